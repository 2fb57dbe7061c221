"""Dotenv copies under decorated names and hard links to the bot's `.env`,
attacked through exec and the file tools (real bubblewrap).

The pool is built the way the gateway builds it (`SandboxPool.from_config`
with the bot directory), so the `.env` beside the config is the protected file
whose hard links the kernel masks. A sandboxed command cannot make such a link
(the `.env` is not in its mount namespace); the host can, before start or while
the pool runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.logs.records import ACCESS_DENIED
from autobot.sandbox.pool import SandboxPool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import ExecTool
from autobot.tools.files import ListDirTool, ReadFileTool

SECRET = "sk-ant-HARDLINKED-OR-BACKED-UP-0123456789"
VARIANTS = [".env~", "#.env#", ".env.swp", ".envrc", ".env1", ".#.env", ".env.bak", "prod.env.orig"]


class Harness:
    def __init__(self, pool: SandboxPool, bot: Path, workspace: Path) -> None:
        self.pool, self.bot, self.workspace = pool, bot, workspace
        logger, self.records = capture_logger()
        self.ctx = ToolContext(
            session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
            logger=logger,
        )  # fmt: skip
        self.exec = ExecTool(pool=pool, workspace=workspace, timeout=20.0)
        self.read = ReadFileTool(pool=pool, workspace=workspace)
        self.list = ListDirTool(pool=pool, workspace=workspace)

    async def run(self, command: str) -> ToolResult:
        return await self.exec.run({"command": command}, self.ctx)

    async def on_every_worker(self, command: str) -> list[ToolResult]:
        """`command` once per worker: leases are FIFO, a busy pool hands out each in turn."""
        return [await self.run(command) for _ in range(self.pool.size)]

    def denied(self) -> int:
        return sum(ACCESS_DENIED in record.message for record in drain(self.records))


@pytest.fixture
async def h(tmp_path: Path, nursery: trio.Nursery) -> Harness:
    bot = tmp_path  # resolved by pytest, as the workspace path must be
    env = bot / ".env"
    env.write_text(f"ANTHROPIC_API_KEY={SECRET}\n")
    env.chmod(0o600)
    workspace = bot / "workspace"
    (workspace / "sub").mkdir(parents=True)
    for name in VARIANTS:
        (workspace / name).write_text(f"KEY={SECRET}\n")
    (workspace / "notes.txt").write_text("hello\n")
    os.link(env, workspace / "innocent.txt")  # placed by the host before start
    os.link(env, workspace / "sub" / "settings.py")
    logger, _ = capture_logger()
    pool = SandboxPool.from_config(
        ToolsConfig(sandbox=SandboxMode.BUBBLEWRAP), workspace=workspace, bot_dir=bot, logger=logger
    )
    await nursery.start(pool.run)
    return Harness(pool, bot, workspace)


@pytest.mark.parametrize("name", VARIANTS)
async def test_naming_a_variant_is_denied_by_exec_and_read_file(h: Harness, name: str) -> None:
    quoted = "'" + name + "'"
    result = await h.run(f"cat {quoted}")
    assert result.is_error and SECRET not in result.text and "dotenv" in result.text
    read = await h.read.run({"path": name}, h.ctx)
    assert read.is_error and SECRET not in read.text
    assert h.denied() == 2


async def test_variants_read_empty_through_globs_the_host_check_cannot_see(h: Harness) -> None:
    script = (
        "import os\n"
        "for name in sorted(os.listdir('.')):\n"
        "    if not os.path.isdir(name):\n"
        "        try:\n"
        "            print(name, repr(open(name).read()))\n"
        "        except OSError:\n"
        "            print(name, 'refused')\n"
    )
    for result in await h.on_every_worker(f'cat -- * .[!.]* sub/* 2>&1; python3 -c "{script}"'):
        assert SECRET not in result.text
        lines = result.text.splitlines()
        for name in [*VARIANTS, "innocent.txt"]:
            # masked by /dev/null: present, and empty or refused (a device on a nodev mount)
            assert f"{name} ''" in lines or f"{name} refused" in lines
        assert "notes.txt 'hello\\n'" in lines


async def test_a_hard_link_placed_before_start_is_refused_by_the_file_tools(h: Harness) -> None:
    for path in ("innocent.txt", "sub/settings.py"):
        result = await h.read.run({"path": path}, h.ctx)
        assert result.is_error and SECRET not in result.text
        assert "not a regular file" in result.text  # the kernel shows /dev/null there
    assert (await h.read.run({"path": "notes.txt"}, h.ctx)) == ToolResult.ok("hello\n")
    assert (await h.list.run({"path": "."}, h.ctx)) == ToolResult.ok(
        "innocent.txt\nnotes.txt\nsub/"  # decorated dotenv names are not even listed
    )


@pytest.mark.parametrize("where", ["late.txt", "sub/late.py", "new/deep/late.md"])
async def test_a_hard_link_made_by_the_host_while_the_pool_runs_reads_empty(
    h: Harness, where: str
) -> None:
    await h.on_every_worker("true")  # both sandboxes built before the link exists
    target = h.workspace / where
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(h.bot / ".env", target)
    for result in await h.on_every_worker(f"cat {where} 2>&1; echo end"):
        assert SECRET not in result.text and result.text.endswith("end")
    result = await h.read.run({"path": where}, h.ctx)
    assert result.is_error and SECRET not in result.text


async def test_a_command_cannot_hard_link_the_env(h: Harness) -> None:
    result = await h.run(
        "ln ../.e''nv a 2>&1; ln /workspace/../.e''nv b 2>&1; ln innocent.txt c 2>&1; "
        "ln sub/settings.py d 2>&1; cat a b c d 2>&1; echo end"
    )
    assert SECRET not in result.text and result.text.endswith("end")
    for name in "abcd":
        assert not (h.workspace / name).exists()
    assert (h.bot / ".env").stat().st_nlink == 3  # .env, innocent.txt, sub/settings.py
