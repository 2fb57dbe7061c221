"""`autobot agent` start-up failures are one clear line on stderr, exit 1."""

from __future__ import annotations

import io
from pathlib import Path

import attrs
import trio

from autobot.commands.agent import agent_command
from autobot.config.load import LoadedConfig, load_config

API_KEY = "sk-ant-api03-startup-secret-0123456789abcdef"


def _loaded(tmp_path: Path, tools: str = "") -> LoadedConfig:
    bot = tmp_path / "bot"
    (bot / "workspace").mkdir(parents=True)
    (bot / "config.yml").write_text(
        "agents:\n  defaults:\n    model: anthropic/claude-test\n"
        "providers:\n  anthropic:\n    api_key: ${ANTHROPIC_API_KEY}\n"
        f"{tools}"
    )
    return load_config(bot / "config.yml", {"ANTHROPIC_API_KEY": API_KEY})


def _run(loaded: LoadedConfig) -> tuple[int, list[str]]:
    err = io.StringIO()

    async def main() -> int:
        with trio.fail_after(60):
            return await agent_command(
                loaded,
                message="hi",
                session="cli:x",
                stdin=io.StringIO(),
                stdout=io.StringIO(),
                stderr=err,
            )

    code = trio.run(main)
    assert API_KEY not in err.getvalue()
    return code, err.getvalue().splitlines()


def test_a_missing_required_sandbox_is_one_clear_line(tmp_path: Path) -> None:
    code, lines = _run(_loaded(tmp_path, "tools:\n  sandbox: docker\n"))
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("autobot: ")
    assert "docker" in lines[0]


def test_sessions_inside_the_workspace_are_refused(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    code, lines = _run(attrs.evolve(loaded, sessions_dir=loaded.workspace / "sessions"))
    assert code == 1
    assert len(lines) == 1 and "is inside the workspace" in lines[0]
    assert not (loaded.workspace / "sessions").exists()
