"""Bots for gateway tests, made the way a user makes them: `autobot new`, then a key."""

from __future__ import annotations

from pathlib import Path

import yaml

from autobot.scaffold.create import create_bot

API_KEY = "sk-ant-api03-" + "k" * 40


def make_gateway_bot(parent: Path, *, port: int) -> Path:
    """A fresh bot under `parent` with its API key filled in and the gateway on `port`;
    returns the config path."""
    bot = create_bot(parent / "bot", interactive=False)
    with bot.env_file.open("a") as env:
        env.write(f"ANTHROPIC_API_KEY={API_KEY}\n")
    config = yaml.safe_load(bot.config_file.read_text())
    config["gateway"]["port"] = port
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file
