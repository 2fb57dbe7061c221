"""exec against real bubblewrap: environment, dotenv files, network, filesystem, limits."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from autobot.logs.records import ACCESS_DENIED
from autobot.sandbox.policy import ResourceLimits
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import ExecTool

SECRET = "sk-ant-HOST-ONLY-SECRET-abcdefghijklmnop"
FAKE_ENV = "AUTOBOT_TEST_FAKE_API_KEY"


def make_ctx(workspace: Path):  # type: ignore[no-untyped-def]
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
        logger=logger,
    )  # fmt: skip
    return ctx, records


@pytest.fixture
async def setup(tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(FAKE_ENV, SECRET)
    monkeypatch.setenv("FORWARDED_NAME", "visible-value")
    workspace = (tmp_path / "workspace").resolve()
    workspace.mkdir()
    (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    (workspace / ".env").write_text(f"KEY={SECRET}\n")
    (workspace / "secrets.env").write_text(f"KEY={SECRET}\n")
    (workspace / "sub").mkdir()
    (workspace / "sub" / ".env.production").write_text(f"KEY={SECRET}\n")
    (workspace / ".env-prod").write_text(f"KEY={SECRET}\n")
    (workspace / "sub" / ".env_local").write_text(f"KEY={SECRET}\n")
    ctx, records = make_ctx(workspace)
    pool = await start_pool(
        nursery, workspace, ctx.logger, env=(("FORWARDED_NAME", "visible-value"),)
    )
    drain(records)
    return ExecTool(pool=pool, workspace=workspace, timeout=20.0), ctx, records, workspace


async def run(setup, command: str, **extra: object) -> ToolResult:  # type: ignore[no-untyped-def]
    tool, ctx, _, _ = setup
    return await tool.run({"command": command, **extra}, ctx)


async def test_env_has_no_host_variable_only_the_minimal_set(setup) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, "env")
    assert SECRET not in result.text and FAKE_ENV not in result.text
    names = {line.split("=", 1)[0] for line in result.text.splitlines()}
    assert names == {"PATH", "HOME", "LANG", "TMPDIR", "PWD", "FORWARDED_NAME"}


async def test_proc_1_environ_and_all_proc_environs_hold_no_secret(setup) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, "cat /proc/1/environ /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert SECRET not in result.text and FAKE_ENV not in result.text


@pytest.mark.parametrize(
    "command",
    [
        "cat .e*",
        "cat *.e?v",
        "cp .e* copy && cat copy",
        "python3 -c \"print(open('.e'+'nv').read())\"",
        "sh -c 'cat secr*'",
        "cat sub/.e*",
        "tar cf - . | tar tvf - >/dev/null; cat */.en*",
        "ln .e* hard 2>&1; cat hard",
        "mv .e* moved 2>&1; cat moved",
    ],
)
async def test_pre_existing_dotenv_files_are_unreadable(setup, command: str) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, command)
    assert SECRET not in result.text


@pytest.mark.parametrize(
    "command",
    [
        "cat .env",
        "cp .env.local x",
        "cat secrets.env",
        "cat sub/.env.production",
        "cat .env-prod",
        "cat sub/.env_local",
    ],
)
async def test_dotenv_names_in_commands_are_denied(setup, command: str) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, command)
    assert result.is_error and "dotenv" in result.text
    assert [r for r in drain(setup[2]) if ACCESS_DENIED in r.message]


async def test_dotenv_created_by_a_command_is_masked_for_later_commands(setup) -> None:  # type: ignore[no-untyped-def]
    made = await run(setup, "mkdir -p d && printf 'NEW=%s' fresh-secret > d/x.e''nv")
    assert not made.is_error
    for command in (
        "cat d/*",
        "python3 -c \"import glob; print(open(glob.glob('d/*')[0]).read())\"",
    ):
        assert "fresh-secret" not in (await run(setup, command)).text


async def test_dotenv_created_on_the_host_later_is_masked(setup) -> None:  # type: ignore[no-untyped-def]
    workspace: Path = setup[3]
    await run(setup, "true")  # the workers are already running
    (workspace / "late.env").write_text("LATE=late-secret\n")
    assert "late-secret" not in (await run(setup, "cat late*")).text


async def test_filesystem_is_minimal_and_synthetic(setup) -> None:  # type: ignore[no-untyped-def]
    passwd = await run(setup, "cat /etc/passwd; ls /etc/shadow /root /home ~/.ssh 2>&1; echo; ls /")
    lines = passwd.text.splitlines()
    assert lines[:2] == [
        "root:x:0:0:root:/tmp:/bin/sh",
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ]
    assert "No such file" in passwd.text
    top = set(lines[-1].split()) if lines[-1] else set()
    assert "home" not in top and "root" not in top and "work" not in top


async def test_proc_self_root_shows_the_sandbox_only(setup) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, "ls /proc/self/root/; cat /proc/self/root/etc/shadow 2>&1; pwd")
    assert "work" not in result.text.split()
    assert "No such file" in result.text
    assert result.text.rstrip().endswith("/workspace")


@pytest.mark.parametrize(
    "command",
    [
        "echo x > /etc/owned",
        "echo x > /usr/owned",
        "echo x > /owned",
        "echo x > /workspace/../owned",
        "mkdir /opt/autobot/x",
    ],
)
async def test_writing_outside_the_workspace_fails(setup, command: str) -> None:  # type: ignore[no-untyped-def]
    workspace: Path = setup[3]
    result = await run(setup, f"{command}; echo rc=$?")
    assert "rc=0" not in result.text
    assert not (workspace.parent / "owned").exists()


async def test_tmp_is_private(setup) -> None:  # type: ignore[no-untyped-def]
    marker = f"autobot-private-{os.getpid()}"
    await run(setup, f"touch /tmp/{marker}")
    assert not os.path.exists(f"/tmp/{marker}")  # noqa: ASYNC240


async def test_no_network_loopback_or_outside(setup) -> None:  # type: ignore[no-untyped-def]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        script = (
            "import socket\n"
            f"for host, port in (('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)):\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    try:\n"
            "        s.connect((host, port)); print('CONNECTED', host)\n"
            "    except OSError as e:\n"
            "        print('blocked', host, e.errno)\n"
        )
        result = await run(setup, f'python3 -c "{script}"')
        assert "CONNECTED" not in result.text
        assert result.text.count("blocked") == 3
        bash = await run(setup, f"bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}' 2>&1; echo rc=$?")
        assert "rc=0" not in bash.text
    finally:
        listener.close()


async def test_sleep_1000_is_killed_at_the_timeout(setup) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, "echo started; sleep 1000", timeout=1)
    assert result.is_error
    assert result.text.startswith("Error: command timed out after 1 seconds")
    assert "started" in result.text
    assert (await run(setup, "echo still-works")).text == "still-works"


async def test_requested_timeout_is_capped_by_configuration(setup) -> None:  # type: ignore[no-untyped-def]
    tool, ctx, _, workspace = setup
    capped = ExecTool(pool=tool.pool, workspace=workspace, timeout=1.0)
    result = await capped.run({"command": "sleep 1000", "timeout": 5000}, ctx)
    assert result.text.startswith("Error: command timed out after 1 seconds")


async def test_output_is_capped_with_a_notice(setup) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, "yes | head -c 50000; echo oops >&2; exit 3")
    assert "[stdout truncated: 40000 more bytes not shown]" in result.text
    assert "STDERR:\noops" in result.text
    assert result.text.endswith("Exit code: 3")


@pytest.mark.parametrize("working_dir", ["/etc", "..", "../..", "/tmp", ".env"])
async def test_working_dir_is_confined(setup, working_dir: str) -> None:  # type: ignore[no-untyped-def]
    result = await run(setup, "pwd", working_dir=working_dir)
    assert result.is_error
    assert [r for r in drain(setup[2]) if ACCESS_DENIED in r.message]


async def test_working_dir_inside_the_workspace(setup) -> None:  # type: ignore[no-untyped-def]
    assert (await run(setup, "pwd", working_dir="sub")).text == "/workspace/sub"
    assert (await run(setup, "pwd", working_dir="/workspace/sub")).text == "/workspace/sub"


@pytest.fixture
def unprivileged_workspace() -> Iterator[Path]:
    """A workspace owned by `nobody`, the sandbox identity of a root gateway (as
    root the kernel would ignore RLIMIT_NPROC; the sandbox never runs as root)."""
    path = Path(tempfile.mkdtemp(prefix="autobot-bomb-")).resolve()
    os.chown(path, 65534, 65534)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_fork_bomb_is_contained(unprivileged_workspace: Path, nursery: trio.Nursery) -> None:
    ctx, _ = make_ctx(unprivileged_workspace)
    pool = await start_pool(
        nursery,
        unprivileged_workspace,
        ctx.logger,
        size=1,
        limits=ResourceLimits(processes=48, cpu_seconds=10),
    )  # as root, the sandbox runs as the unprivileged identity (65534)
    tool = ExecTool(pool=pool, workspace=unprivileged_workspace, timeout=20.0)
    bomb = await tool.run({"command": "b(){ b | b & }; b; sleep 2; echo done", "timeout": 5}, ctx)
    assert "Cannot fork" in bomb.text  # RLIMIT_NPROC stopped it
    assert not bomb.text.startswith("Error: the sandbox worker failed")
    after = await tool.run({"command": "echo alive; id -u"}, ctx)
    assert after.text.startswith("alive")
