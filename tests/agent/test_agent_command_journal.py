"""`autobot agent -m` with a session journal it must not use: one clear line
naming `sessions/<file>`, exit 1, no model request, never "unknown error", a
hang or a traceback. Real tree, loopback Anthropic fake."""

from __future__ import annotations

import io
import os
from pathlib import Path

import trio

from autobot.agent.session_store import session_file_name
from autobot.commands.agent import agent_command
from autobot.config.load import LoadedConfig, load_config
from autobot.logs.sinks import LOG_FILE_NAME
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply
from autobot.testing.unprivileged import NOBODY, run_as_nobody, traversable_directory

API_KEY = "sk-ant-api03-journal-secret-0123456789abcdef"
SESSION = "cli:journal"
NAME = session_file_name(SESSION)
TIMEOUT = 60  # real sockets and processes: generous, never asserted


def _loaded(bot: Path, api_base: str) -> LoadedConfig:
    (bot / "workspace").mkdir(parents=True)
    (bot / "config.yml").write_text(
        "agents:\n  defaults:\n    model: anthropic/claude-test\n"
        f"providers:\n  anthropic:\n    api_key: ${{ANTHROPIC_API_KEY}}\n    api_base: {api_base}\n"
        "tools:\n  sandbox: none\n"  # no tool runs: the turn fails before the model
    )
    return load_config(bot / "config.yml", {"ANTHROPIC_API_KEY": API_KEY})


async def _agent(loaded: LoadedConfig) -> tuple[int, str]:
    err = io.StringIO()
    with trio.fail_after(TIMEOUT):
        code = await agent_command(
            loaded,
            message="hi",
            session=SESSION,
            stdin=io.StringIO(),
            stdout=io.StringIO(),
            stderr=err,
        )
    return code, err.getvalue()


def _failed_turn(loaded: LoadedConfig, reason: str) -> str:
    log_file = loaded.logs_dir / LOG_FILE_NAME
    return f"autobot: the turn failed: {reason}; details in {log_file}\n"


async def test_a_fifo_journal_fails_the_turn_with_one_line(tmp_path: Path) -> None:
    async with serve_fake_anthropic([ScriptedReply(text="never sent")]) as fake:
        loaded = _loaded(tmp_path / "bot", fake.base_url)
        loaded.sessions_dir.mkdir(mode=0o700)
        os.mkfifo(loaded.sessions_dir / NAME)
        code, err = await _agent(loaded)
    assert code == 1
    assert err == _failed_turn(
        loaded, f"session journal sessions/{NAME} is a FIFO (named pipe), not a regular file"
    )
    assert fake.requests == []
    assert API_KEY not in err


async def test_a_sessions_path_that_is_a_file_fails_the_turn_with_one_line(
    tmp_path: Path,
) -> None:
    async with serve_fake_anthropic([ScriptedReply(text="never sent")]) as fake:
        loaded = _loaded(tmp_path / "bot", fake.base_url)
        loaded.sessions_dir.write_text("in the way")
        code, err = await _agent(loaded)
    assert code == 1
    assert err == _failed_turn(
        loaded, f"cannot read session journal sessions/{NAME}: sessions is not a directory"
    )
    assert "unknown error" not in err
    assert fake.requests == []


def test_an_unreadable_sessions_directory_is_one_line_not_a_traceback() -> None:
    with traversable_directory() as base:
        bot = base / "bot"
        loaded = _loaded(bot, "http://127.0.0.1:9")  # never contacted
        for path in (bot, bot / "config.yml", bot / "workspace"):
            os.chown(path, NOBODY, NOBODY)
        loaded.sessions_dir.mkdir(mode=0o700)  # root's: closed to the agent's user

        def run_agent() -> str:
            code, err = trio.run(_agent, loaded)
            return f"{code}\n{err}"

        outcome = run_as_nobody(run_agent)
    assert outcome == "1\nautobot: cannot start the agent: Permission denied: sessions\n"
