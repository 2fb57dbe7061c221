"""A whole bot for tests and the benchmark: `autobot new` + Slack pointed at the fakes.

`make_slack_bot` writes a bot directory the way a user would (the scaffold,
tokens in `.env`, `config.yml` edited) with the Slack channel enabled against
the loopback Slack fake and the model against the loopback Anthropic fake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from autobot.scaffold.create import create_bot
from autobot.testing.fake_slack import DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN
from autobot.testing.telegram_bot import TEST_API_KEY


def make_slack_bot(
    parent: Path,
    *,
    api_base: str,
    model_url: str,
    allow_from: Iterable[str] = (),
    slack: Mapping[str, Any] | None = None,
    bot_token: str = DEFAULT_BOT_TOKEN,
    app_token: str = DEFAULT_APP_TOKEN,
) -> Path:
    """A fresh bot under `parent` (returns its config path): Slack enabled at
    `api_base` with `allow_from` and any other `slack` settings, the tokens in
    `.env`, the Anthropic provider at `model_url`."""
    bot = create_bot(parent / "bot", interactive=False)
    with bot.env_file.open("a") as env:
        env.write(
            f"ANTHROPIC_API_KEY={TEST_API_KEY}\n"
            f"SLACK_BOT_TOKEN={bot_token}\nSLACK_APP_TOKEN={app_token}\n"
        )
    config = yaml.safe_load(bot.config_file.read_text())
    config.setdefault("providers", {}).setdefault("anthropic", {})["api_base"] = model_url
    config.setdefault("channels", {})["slack"] = {
        "enabled": True,
        "bot_token": "${SLACK_BOT_TOKEN}",
        "app_token": "${SLACK_APP_TOKEN}",
        "api_base": api_base,
        "allow_from": list(allow_from),
        **(slack or {}),
    }
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file
