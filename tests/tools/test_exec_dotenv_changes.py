"""Dotenv files that appear or are replaced while workers run, attacked through exec (real bubblewrap).

A worker's sandbox hides the dotenv entries that existed when it was built, with
mounts tied to those inodes. The pool's index (inotify) must notice a new one
or a replacement (an editor's atomic save) before the next lease, without
walking the workspace when nothing changed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from autobot.sandbox import env_index
from autobot.sandbox.pool import SandboxPool
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import ExecTool
from autobot.tools.files import ReadFileTool

SECRET = "replaced-secret-0123456789"


class Tools:
    def __init__(self, pool: SandboxPool, workspace: Path) -> None:
        self.pool, self.workspace = pool, workspace
        logger, _ = capture_logger()
        self.ctx = ToolContext(
            session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
            logger=logger,
        )  # fmt: skip
        self.exec = ExecTool(pool=pool, workspace=workspace, timeout=20.0)
        self.read = ReadFileTool(pool=pool, workspace=workspace)

    async def run(self, command: str) -> ToolResult:
        return await self.exec.run({"command": command}, self.ctx)


@pytest.fixture
async def tools(tmp_path: Path, nursery: trio.Nursery) -> Tools:
    workspace = (tmp_path / "workspace").resolve()
    (workspace / "conf").mkdir(parents=True)
    (workspace / ".env").write_text("KEY=old\n")
    (workspace / "conf" / "prod.env").write_text("KEY=old\n")
    (workspace / "notes.txt").write_text("notes\n")
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=2)
    return Tools(pool, workspace)


async def warm(tools: Tools) -> None:
    """Run on every worker, so the next commands use sandboxes built before the change."""
    for _ in range(tools.pool.size):
        assert (await tools.run("true")) == ToolResult.ok("Exit code: 0")


def atomic_save(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".swp")
    temporary.write_text(text)
    os.replace(temporary, path)


@pytest.mark.parametrize(
    "change",
    ["atomic save of .env", "delete and recreate", "new in a new directory", "rename onto"],
)
async def test_host_change_is_hidden_from_the_next_command(tools: Tools, change: str) -> None:
    await warm(tools)
    root = tools.workspace
    if change == "atomic save of .env":
        atomic_save(root / ".env", f"KEY={SECRET}\n")
    elif change == "delete and recreate":
        (root / "conf" / "prod.env").unlink()
        (root / "conf" / "prod.env").write_text(f"KEY={SECRET}\n")
    elif change == "new in a new directory":
        (root / "x" / "y").mkdir(parents=True)
        (root / "x" / "y" / "late.env").write_text(f"KEY={SECRET}\n")
    else:
        (root / "draft").write_text(f"KEY={SECRET}\n")
        (root / "draft").rename(root / "conf" / "staging.env")
    for _ in range(tools.pool.size):  # every worker
        result = await tools.run("cat .e* conf/*.e* x/y/* conf/* 2>&1; echo end")
        assert SECRET not in result.text and result.text.endswith("end")


async def test_a_command_renaming_onto_a_dotenv_name_is_hidden_afterwards(tools: Tools) -> None:
    made = await tools.run(f"echo {SECRET} > tmp && mv tmp conf/new.e''nv && echo moved")
    assert made.text == "moved"
    for _ in range(tools.pool.size):
        assert SECRET not in (await tools.run("cat conf/* 2>&1; echo end")).text


async def test_leases_without_changes_do_not_walk_the_workspace(
    tools: Tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(200):
        (tools.workspace / "conf" / f"file{index}.txt").write_text("x")
    await warm(tools)
    listed: list[str] = []
    real = env_index.list_directory

    def counting(workspace: Path, rel: str, **options):  # type: ignore[no-untyped-def]
        listed.append(rel)
        return real(workspace, rel, **options)

    monkeypatch.setattr(env_index, "list_directory", counting)
    for _ in range(10):
        assert await tools.read.run({"path": "notes.txt"}, tools.ctx) == ToolResult.ok("notes\n")
    assert listed == []
    await tools.run("touch conf/one-more.txt")
    await tools.read.run({"path": "notes.txt"}, tools.ctx)
    assert listed == ["conf"]  # one directory re-listed, not the tree
