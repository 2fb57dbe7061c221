"""File tools against real bubblewrap: normal use, clear errors, and every escape attempt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from autobot.logs.records import ACCESS_DENIED, Level, LogRecord
from autobot.sandbox.pool import SandboxPool
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import ExecTool
from autobot.tools.files import EditFileTool, ListDirTool, ReadFileTool, WriteFileTool

SECRET = "sk-ant-THIS-IS-A-HOST-SECRET-0123456789"


class Harness:
    def __init__(self, pool: SandboxPool, workspace: Path, ctx: ToolContext, records) -> None:  # type: ignore[no-untyped-def]
        self.pool, self.workspace, self.ctx, self.records = pool, workspace, ctx, records
        self.read = ReadFileTool(pool=pool, workspace=workspace)
        self.write = WriteFileTool(pool=pool, workspace=workspace)
        self.edit = EditFileTool(pool=pool, workspace=workspace)
        self.list = ListDirTool(pool=pool, workspace=workspace)
        self.exec = ExecTool(pool=pool, workspace=workspace, timeout=20.0)

    def denied(self) -> list[LogRecord]:
        return [
            r for r in drain(self.records) if r.level is Level.WARN and ACCESS_DENIED in r.message
        ]


@pytest.fixture
async def h(tmp_path: Path, nursery: trio.Nursery) -> Harness:
    workspace = (tmp_path / "workspace").resolve()
    workspace.mkdir()
    (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n")  # the bot dir's .env
    (workspace / "notes.txt").write_text("hello notes\n")
    (workspace / ".env").write_text(f"KEY={SECRET}\n")
    (workspace / "secrets.env").write_text(f"KEY={SECRET}\n")
    logger, records = capture_logger()
    pool = await start_pool(nursery, workspace, logger)
    ctx = ToolContext(
        session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
        logger=logger,
    )  # fmt: skip
    drain(records)
    return Harness(pool, workspace, ctx, records)


def assert_denied(h: Harness, result: ToolResult) -> None:
    assert result.is_error
    assert SECRET not in result.text
    assert len(h.denied()) == 1


async def test_read_write_edit_list_roundtrip(h: Harness) -> None:
    result = await h.write.run({"path": "a/b/c.txt", "content": "one two"}, h.ctx)
    assert result == ToolResult.ok("Wrote 7 bytes to a/b/c.txt")
    assert (h.workspace / "a/b/c.txt").read_text() == "one two"
    assert (
        await h.edit.run({"path": "a/b/c.txt", "old_text": "two", "new_text": "2"}, h.ctx)
    ).text == "Edited a/b/c.txt"
    assert (await h.read.run({"path": "/workspace/a/b/c.txt"}, h.ctx)) == ToolResult.ok("one 2")
    listing = await h.list.run({"path": "."}, h.ctx)
    assert listing == ToolResult.ok("a/\nnotes.txt")  # dotenv entries are not listed
    assert (
        await h.list.run({"path": "a/b/c.txt"}, h.ctx)
    ).text == "Error: a/b/c.txt is not a directory"


async def test_edit_counts_occurrences(h: Harness) -> None:
    (h.workspace / "x.txt").write_text("aa aa aa")
    many = await h.edit.run({"path": "x.txt", "old_text": "aa", "new_text": "b"}, h.ctx)
    assert many == ToolResult.error(
        "Error: old_text occurs 3 times in x.txt; it must occur exactly once (add context)"
    )
    none = await h.edit.run({"path": "x.txt", "old_text": "zz", "new_text": "b"}, h.ctx)
    assert none == ToolResult.error("Error: old_text not found in x.txt")
    assert (h.workspace / "x.txt").read_text() == "aa aa aa"


@pytest.mark.parametrize(
    ("setup", "path", "expected"),
    [
        (None, "missing.txt", "Error: not found: missing.txt"),
        ("dir", "d", "Error: d is a directory (use list_dir)"),
        ("binary", "b.bin", "Error: b.bin has binary content and cannot be read as text"),
        ("big", "big.txt", "Error: big.txt is 1000001 bytes, over the 1000000-byte read limit"),
    ],
)
async def test_read_errors_are_specific(
    h: Harness, setup: str | None, path: str, expected: str
) -> None:
    if setup == "dir":
        (h.workspace / "d").mkdir()
    elif setup == "binary":
        (h.workspace / "b.bin").write_bytes(b"\x00\x01\x02")
    elif setup == "big":
        (h.workspace / "big.txt").write_text("x" * 1_000_001)
    assert await h.read.run({"path": path}, h.ctx) == ToolResult.error(expected)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../../../etc/passwd",
        "~/.ssh/id_rsa",
        "/root/.ssh/id_rsa",
        "/proc/self/root/etc/passwd",
        "/proc/1/environ",
        "../.env",
        ".env",
        ".env.local",
        ".env-prod",
        "sub/.env_local",
        "secrets.env",
        "sub/../.env",
        "/workspace/.env",
        "/workspace/../etc/passwd",
    ],
)
async def test_read_escape_is_refused_and_recorded(h: Harness, path: str) -> None:
    result = await h.read.run({"path": path}, h.ctx)
    if path.startswith("~"):
        # `~` is not expanded: it is a (missing) directory named "~" inside the workspace.
        assert result == ToolResult.error(f"Error: not found: {path}")
        return
    assert_denied(h, result)


async def test_absolute_host_path_inside_workspace_is_fine(h: Harness) -> None:
    result = await h.read.run({"path": str(h.workspace / "notes.txt")}, h.ctx)
    assert result == ToolResult.ok("hello notes\n")


@pytest.mark.parametrize("target", ["/etc", "/", "/etc/passwd", "../.e''nv"])
async def test_symlink_made_through_exec_cannot_be_read(h: Harness, target: str) -> None:
    made = await h.exec.run({"command": f"ln -s {target} link"}, h.ctx)
    assert not made.is_error
    assert os.path.islink(h.workspace / "link")  # noqa: ASYNC240
    for path in ("link", "link/passwd", "link/etc/passwd"):
        result = await h.read.run({"path": path}, h.ctx)
        assert result.is_error
        assert "root:x" not in result.text and SECRET not in result.text
    assert h.denied()


async def test_symlink_to_dotenv_inside_workspace_is_refused(h: Harness) -> None:
    (h.workspace / "innocent.txt").symlink_to(".env")
    assert_denied(h, await h.read.run({"path": "innocent.txt"}, h.ctx))


@pytest.mark.parametrize(
    "path", ["/tmp/x", "../outside.txt", "/etc/cron.d/x", ".env", "a/.env.production"]
)
async def test_write_outside_or_to_dotenv_is_refused(h: Harness, path: str) -> None:
    result = await h.write.run({"path": path, "content": "pwned"}, h.ctx)
    assert_denied(h, result)
    assert not (h.workspace.parent / "outside.txt").exists()
    assert (h.workspace / ".env").read_text().startswith("KEY=")


async def test_what_the_model_creates_is_owner_only_whatever_the_gateway_umask(
    h: Harness,
) -> None:
    """Checklist section 7: files 0600, directories 0700, from write_file and
    from commands alike (the worker sets umask 077 for itself and its children)."""
    old = os.umask(0)  # the gateway's umask must not matter
    try:
        assert not (await h.write.run({"path": "a/b/note.md", "content": "x"}, h.ctx)).is_error
        made = await h.exec.run({"command": "mkdir -p c/d && echo y > c/d/out.txt"}, h.ctx)
        assert not made.is_error
    finally:
        os.umask(old)
    modes = {
        rel: (h.workspace / rel).stat().st_mode & 0o777
        for rel in ("a", "a/b", "a/b/note.md", "c", "c/d", "c/d/out.txt")
    }
    assert modes == {
        "a": 0o700, "a/b": 0o700, "a/b/note.md": 0o600,
        "c": 0o700, "c/d": 0o700, "c/d/out.txt": 0o600,
    }  # fmt: skip
