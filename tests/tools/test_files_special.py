"""File tools on FIFOs, sockets and devices, and the deadline on a worker that never answers.

Real bubblewrap, except the deadline's timing test, which uses a fake leaser and
the autojump clock. A FIFO used to hang the worker forever; now every non-regular
file is refused with a clear error and the worker stays responsive.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from autobot.sandbox.pool import SandboxPool
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import ExecTool
from autobot.tools.files import EditFileTool, ListDirTool, ReadFileTool, WriteFileTool

MAKE_SOCKET = (
    "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('sock')\"; test -S sock"
)


def make_ctx(workspace: Path):  # type: ignore[no-untyped-def]
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
        logger=logger,
    )  # fmt: skip
    return ctx, records


class Tools:
    def __init__(self, pool: SandboxPool, workspace: Path) -> None:
        self.pool, self.workspace = pool, workspace
        self.ctx, self.records = make_ctx(workspace)
        self.read = ReadFileTool(pool=pool, workspace=workspace)
        self.write = WriteFileTool(pool=pool, workspace=workspace)
        self.edit = EditFileTool(pool=pool, workspace=workspace)
        self.list = ListDirTool(pool=pool, workspace=workspace)
        self.exec = ExecTool(pool=pool, workspace=workspace, timeout=20.0)

    async def run(self, command: str) -> ToolResult:
        return await self.exec.run({"command": command}, self.ctx)

    async def attempts(self, path: str) -> list[ToolResult]:
        """read_file, write_file and edit_file on `path`."""
        return [
            await self.read.run({"path": path}, self.ctx),
            await self.write.run({"path": path, "content": "x"}, self.ctx),
            await self.edit.run({"path": path, "old_text": "a", "new_text": "b"}, self.ctx),
        ]


@pytest.fixture
async def tools(tmp_path: Path, nursery: trio.Nursery) -> Tools:
    workspace = (tmp_path / "workspace").resolve()
    workspace.mkdir()
    (workspace / "notes.txt").write_text("hello\n")
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    return Tools(pool, workspace)


async def assert_still_serving(tools: Tools) -> None:
    assert await tools.read.run({"path": "notes.txt"}, tools.ctx) == ToolResult.ok("hello\n")
    assert tools.pool.statistics().restarts == 0  # refused at once, nothing hung


@pytest.mark.parametrize(
    ("command", "path", "kind"),
    [
        ("mkfifo pipe", "pipe", "a FIFO"),
        ("mkfifo pipe && ln -s pipe via-link", "via-link", "a FIFO"),
        (MAKE_SOCKET, "sock", "a socket"),
    ],
)
async def test_special_files_made_through_exec_are_refused(
    tools: Tools, command: str, path: str, kind: str
) -> None:
    assert await tools.run(command) == ToolResult.ok("Exit code: 0")
    for result in await tools.attempts(path):
        assert result == ToolResult.error(
            f"Error: {path} is {kind}, not a regular file; file tools only use regular files"
        )
    await assert_still_serving(tools)


async def test_fifo_with_a_writer_waiting_is_still_refused(tools: Tools) -> None:
    """Even with a process blocked writing into the FIFO, nothing is read from it."""
    await tools.run("mkfifo pipe")
    async with tools.pool.lease() as worker:
        pass  # the only worker is idle again
    result = await tools.read.run({"path": "pipe"}, tools.ctx)
    assert "is a FIFO" in result.text
    assert worker.alive


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
@pytest.mark.parametrize("device", [(1, 5), (1, 9)], ids=["zero", "urandom"])
async def test_device_node_in_the_workspace_is_refused(
    tools: Tools, device: tuple[int, int]
) -> None:
    os.mknod(tools.workspace / "dev", 0o666 | stat.S_IFCHR, os.makedev(*device))
    for result in await tools.attempts("dev"):
        assert "is a character device, not a regular file" in result.text
    await assert_still_serving(tools)


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "/dev/stdin", "/proc/1/fd/0"])
async def test_links_to_devices_are_outside_the_workspace(tools: Tools, target: str) -> None:
    await tools.run(f"ln -s {target} link")
    drain(tools.records)
    for path in ("link", target):
        result = await tools.read.run({"path": path}, tools.ctx)
        assert result.is_error and "outside the workspace" in result.text
    await assert_still_serving(tools)


async def test_symlink_loop_is_refused_not_crashed(tools: Tools) -> None:
    assert await tools.run("ln -s a b && ln -s b a") == ToolResult.ok("Exit code: 0")
    for path in ("a", "a/x"):
        result = await tools.read.run({"path": path}, tools.ctx)
        assert result.is_error and "outside the workspace" in result.text
    await assert_still_serving(tools)


def worker_host_pid(bwrap_pid: int) -> int:
    """The host PID of the python worker under the bwrap process `bwrap_pid`."""
    pending = [bwrap_pid]
    while pending:
        pid = pending.pop()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        if argv[0] == b"/usr/bin/python3" and any(b"worker_main.py" in arg for arg in argv):
            return pid
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            pending += [int(child) for child in handle.read().split()]
    raise AssertionError("no worker process under bwrap")


async def test_a_stuck_worker_is_killed_at_the_deadline_and_replaced(tools: Tools) -> None:
    async with tools.pool.lease() as worker:
        stuck = worker_host_pid(worker.process.pid)
    os.kill(stuck, signal.SIGSTOP)  # the worker stops answering
    quick = ReadFileTool(pool=tools.pool, workspace=tools.workspace, deadline=0.5)
    result = await quick.run({"path": "notes.txt"}, tools.ctx)
    assert result == ToolResult.error(
        "Error: read_file on notes.txt did not finish within 0.5 seconds; "
        "the sandbox worker was killed and replaced"
    )
    assert any("did not answer in time" in r.message for r in drain(tools.records))
    assert await tools.read.run({"path": "notes.txt"}, tools.ctx) == ToolResult.ok("hello\n")
    assert tools.pool.statistics().restarts == 1


class HangingWorker:
    """Stands in for a worker whose every call blocks forever."""

    async def read_text(self, path: str, max_bytes: int) -> str:
        await trio.sleep_forever()
        raise AssertionError("unreachable")


class SlowLeaser:
    """Hands out one HangingWorker after `wait` seconds of (virtual) queueing."""

    def __init__(self, wait: float) -> None:
        self.wait = wait

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[HangingWorker]:
        await trio.sleep(self.wait)
        yield HangingWorker()


async def test_deadline_counts_from_the_lease_not_the_queue(autojump_clock: object) -> None:
    ctx, _ = make_ctx(Path("/nonexistent"))
    tool = ReadFileTool(pool=SlowLeaser(100.0), workspace=Path("/nonexistent"), deadline=7.0)  # type: ignore[arg-type]
    start = trio.current_time()
    result = await tool.run({"path": "a.txt"}, ctx)
    assert trio.current_time() - start == 107.0
    assert result.text.startswith("Error: read_file on a.txt did not finish within 7 seconds")


@pytest.mark.parametrize("second", ["short", "a much longer second content " * 10, ""])
async def test_overwrite_leaves_exactly_the_new_content(tools: Tools, second: str) -> None:
    first = "first content, of a middling length\n" * 3
    for content in (first, second):
        result = await tools.write.run({"path": "w.txt", "content": content}, tools.ctx)
        assert result == ToolResult.ok(f"Wrote {len(content)} bytes to w.txt")
    assert (tools.workspace / "w.txt").read_text() == second
