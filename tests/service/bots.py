"""Bot directories for the service tests: made by `autobot new` itself, then loaded."""

from __future__ import annotations

import os
from pathlib import Path

from autobot.config.load import LoadedConfig, load_config
from autobot.scaffold.create import create_bot

KEY = "sk-ant-api03-" + "S" * 40


def new_bot(
    parent: Path, name: str = "mybot", *, config_tail: str = "", workspace: str | None = None
) -> LoadedConfig:
    """`autobot new NAME` in `parent` (its API key filled in, `config_tail`
    appended to config.yml, `workspace` as agents.defaults.workspace), loaded.
    `parent` is made 0755 so other accounts can reach the bot, as in /srv."""
    parent.mkdir(parents=True, exist_ok=True)
    os.chmod(parent, 0o755)
    bot = parent / name
    create_bot(bot, interactive=False)
    with (bot / ".env").open("a") as env:
        env.write(f"ANTHROPIC_API_KEY={KEY}\n")
    config = bot / "config.yml"
    text = config.read_text() + config_tail
    if workspace is not None:
        text = text.replace("workspace: ./workspace", f"workspace: {workspace}")
    config.write_text(text)
    return load_config(bot / "config.yml", {})
