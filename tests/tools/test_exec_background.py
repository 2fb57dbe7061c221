"""Nothing a command starts outlives its exec, and no command reaches the worker's pipes.

Real bubblewrap. The worker is PID 1 of the sandbox's PID namespace: after every
command (finished, failed, timed out) it kills and reaps every other process
before answering, so the host sees no leftover process the moment exec returns.
Its protocol pipes are /proc/1/fd/0 and /proc/1/fd/1, which a command must not open.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from autobot.sandbox.pool import SandboxPool
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger
from autobot.testing.processes import host_processes_with
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import ExecTool
from autobot.tools.files import ReadFileTool, WriteFileTool

SECRET = "late-host-secret-0123456789"


class Tools:
    def __init__(self, pool: SandboxPool, workspace: Path) -> None:
        logger, _ = capture_logger()
        self.workspace = workspace
        self.ctx = ToolContext(
            session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
            logger=logger,
        )  # fmt: skip
        self.exec = ExecTool(pool=pool, workspace=workspace, timeout=20.0)
        self.read = ReadFileTool(pool=pool, workspace=workspace)
        self.write = WriteFileTool(pool=pool, workspace=workspace)

    async def run(self, command: str, **extra: object) -> ToolResult:
        return await self.exec.run({"command": command, **extra}, self.ctx)


@pytest.fixture
async def tools(tmp_path: Path, nursery: trio.Nursery) -> Tools:
    workspace = (tmp_path / "workspace").resolve()
    workspace.mkdir()
    (workspace / "notes.txt").write_text("the real notes\n")
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    return Tools(pool, workspace)


DAEMONS = {
    "setsid": "setsid sleep {m} >/dev/null 2>&1 < /dev/null &",
    "setsid -f": "setsid -f sleep {m} >/dev/null 2>&1 < /dev/null",
    "double fork": "( sh -c 'sleep {m} >/dev/null 2>&1 &' & )",
    "nohup": "nohup sleep {m} >/dev/null 2>&1 &",
    "python daemon": (
        'python3 -c "import os,time\nif os.fork(): os._exit(0)\nos.setsid()\n'
        "if os.fork(): os._exit(0)\nos.execvp('sleep', ['sleep', '{m}'])\" &"
    ),
    "trap HUP": "sh -c 'trap \"\" HUP TERM; exec sleep {m}' >/dev/null 2>&1 &",
}


@pytest.mark.parametrize("kind", sorted(DAEMONS))
async def test_background_process_is_gone_when_exec_returns(tools: Tools, kind: str) -> None:
    marker = f"1000.{abs(hash(kind)) % 10**6:06d}"
    result = await tools.run(DAEMONS[kind].format(m=marker) + "\nsleep 0.2; echo started")
    assert result.text.endswith("started")
    assert host_processes_with(marker) == []  # no waiting: gone before the answer
    inside = await tools.run("cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '")
    assert marker not in inside.text


async def test_background_process_is_gone_after_a_timeout(tools: Tools) -> None:
    marker = "1000.777001"
    result = await tools.run(f"setsid sleep {marker} >/dev/null 2>&1 & sleep 1000", timeout=1)
    assert result.text.startswith("Error: command timed out")
    assert host_processes_with(marker) == []


async def test_background_process_is_gone_after_a_failing_command(tools: Tools) -> None:
    marker = "1000.777002"
    result = await tools.run(f"setsid sleep {marker} >/dev/null 2>&1 & exit 7")
    assert result.text.endswith("Exit code: 7")
    assert host_processes_with(marker) == []


async def test_only_the_worker_and_the_command_exist_inside(tools: Tools) -> None:
    await tools.run("for i in 1 2 3; do setsid sleep 1000 >/dev/null 2>&1 & done")
    pids = await tools.run("ls -d /proc/[0-9]* | wc -l; cat /proc/1/cmdline | tr '\\0' ' '")
    count, cmdline = pids.text.splitlines()
    assert int(count) <= 4  # PID 1 (the worker), sh, ls, wc: no leftover sleep
    assert "worker_main.py" in cmdline


@pytest.mark.parametrize(
    "command",
    [
        "cat /proc/1/fd/0",
        "head -c 4 < /proc/1/fd/0",
        "echo forged > /proc/1/fd/1",
        "printf '\\000\\000\\000\\002{}' >> /proc/1/fd/1",
        "ls -l /proc/1/fd/",
        "readlink -v /proc/1/fd/1",
        "python3 -c \"open('/proc/1/fd/1', 'wb').write(b'x')\"",
        "cat /proc/1/environ",
        "cat /proc/1/root/etc/passwd",
    ],
)
async def test_commands_cannot_open_the_worker_pipes(tools: Tools, command: str) -> None:
    result = await tools.run(f"{command} 2>&1; echo rc=$?")
    assert "rc=0" not in result.text
    assert "ermission denied" in result.text or "Operation not permitted" in result.text
    assert (await tools.run("echo still-speaking")).text == "still-speaking"


SPY = """
import json, os, sys
try:
    stdin = os.open("/proc/1/fd/0", os.O_RDONLY)
    stdout = os.open("/proc/1/fd/1", os.O_WRONLY)
    state = "opened"
except OSError as exc:
    state = "refused: " + exc.strerror
with open("/workspace/armed", "w") as handle:
    handle.write(state)
while state == "opened":
    request = os.read(stdin, 65536)  # steal a request frame...
    with open("/workspace/loot", "ab") as handle:
        handle.write(request)
    frame_id = json.loads(request[4:])["id"]
    body = json.dumps({"id": frame_id, "ok": True, "content": "FORGED", "bytes": 0}).encode()
    os.write(stdout, len(body).to_bytes(4, "big") + body)  # ...and answer it forged
"""


async def test_a_daemon_cannot_forge_or_steal_frames(tools: Tools) -> None:
    """A daemon that opens the worker's pipes could steal another session's
    request frames and answer them with forged responses: it can open neither,
    and it is gone before the next request anyway."""
    (tools.workspace / "spy.py").write_text(SPY)
    armed = await tools.run(
        "setsid python3 spy.py spy-1000.777003 >/dev/null 2>&1 < /dev/null &\n"
        "while [ ! -e armed ]; do sleep 0.01; done; cat armed"
    )
    assert armed.text == "refused: Permission denied"
    assert host_processes_with("spy-1000.777003") == []
    for round_ in range(3):
        content = f"session two, round {round_}"
        written = await tools.write.run({"path": "a.txt", "content": content}, tools.ctx)
        assert written == ToolResult.ok(f"Wrote {len(content)} bytes to a.txt")
        assert await tools.read.run({"path": "a.txt"}, tools.ctx) == ToolResult.ok(content)
    assert not (tools.workspace / "loot").exists()


async def test_a_daemon_never_reads_a_dotenv_created_later_on_the_host(tools: Tools) -> None:
    spy = "touch ready; while :; do cat late* >> loot 2>/dev/null; sleep 0.01; done"
    await tools.run(
        f"setsid sh -c '{spy}' spy-1000.777004 >/dev/null 2>&1 < /dev/null &\n"
        "while [ ! -e ready ]; do sleep 0.01; done"
    )
    assert host_processes_with("spy-1000.777004") == []
    (tools.workspace / "late.env").write_text(f"KEY={SECRET}\n")
    later = await tools.run("sleep 0.2; cat late* loot 2>&1")
    assert SECRET not in later.text
    assert (
        not (tools.workspace / "loot").exists()
        or SECRET not in (tools.workspace / "loot").read_text()
    )
