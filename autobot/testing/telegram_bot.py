"""A whole bot for tests and the demo: `autobot new` + Telegram pointed at the fakes.

`make_telegram_bot` writes a bot directory the way a user would (the
scaffold, keys in `.env`, `config.yml` edited) with the Telegram channel
enabled against the loopback Bot API fake and the model against the loopback
Anthropic fake. `echo_model` is a fake-model handler that answers each user
message with a fixed prefix and the message's text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from autobot.scaffold.create import create_bot
from autobot.testing.fake_telegram import DEFAULT_TOKEN
from autobot.testing.llm_script import ScriptedReply, Step

TEST_API_KEY = "sk-ant-api03-" + "t" * 40


def make_telegram_bot(
    parent: Path,
    *,
    telegram_url: str,
    model_url: str,
    allow_from: Iterable[str] = (),
    telegram: Mapping[str, Any] | None = None,
    token: str = DEFAULT_TOKEN,
) -> Path:
    """A fresh bot under `parent` (returns its config path): Telegram enabled
    at `telegram_url` with `allow_from` and any other `telegram` settings, the
    Anthropic provider at `model_url` (the HTTP actor keeps the default port:
    tests that run the gateway set their own)."""
    bot = create_bot(parent / "bot", interactive=False)
    with bot.env_file.open("a") as env:
        env.write(f"ANTHROPIC_API_KEY={TEST_API_KEY}\nTELEGRAM_BOT_TOKEN={token}\n")
    config = yaml.safe_load(bot.config_file.read_text())
    config.setdefault("providers", {}).setdefault("anthropic", {})["api_base"] = model_url
    config.setdefault("channels", {})["telegram"] = {
        "enabled": True,
        "token": "${TELEGRAM_BOT_TOKEN}",
        "api_base": telegram_url,
        "allow_from": list(allow_from),
        "poll_timeout": 10,
        **(telegram or {}),
    }
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message of an Anthropic request body."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [block.get("text", "") for block in content if block.get("type") == "text"]
        if texts:
            return "\n".join(texts)
    return ""


def echo_model(prefix: str = "echo: ") -> Any:
    """A fake-model handler answering `prefix` + the last user message."""

    def answer(body: Mapping[str, Any]) -> Step:
        return ScriptedReply(text=prefix + last_user_text(body))

    return answer
