"""A whole bot for the Zulip gateway tests: `autobot new` + Zulip pointed at the fakes.

`make_zulip_bot` writes a bot directory the way a user would (the scaffold,
keys in `.env`, `config.yml` edited) with the Zulip channel enabled against
the loopback Zulip fake and the model against the loopback Anthropic fake.
`zulip_gateway` builds the real gateway for it with the chat channels the
composition root builds from its config (`chat_channels`: Zulip).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.config import LoadedConfig
from autobot.scaffold.create import create_bot
from autobot.testing.fake_zulip import FakeZulip
from autobot.testing.telegram_bot import TEST_API_KEY


def make_zulip_bot(
    parent: Path,
    *,
    zulip: FakeZulip,
    model_url: str,
    allow_from: Iterable[str] = (),
    settings: Mapping[str, Any] | None = None,
    port: int | None = None,
) -> Path:
    """A fresh bot under `parent` (returns its config path): Zulip enabled
    against `zulip` with `allow_from` and any other `settings`, its API key in
    `.env`; the Anthropic provider at `model_url`; the HTTP actor on `port`
    (default: the configured one)."""
    bot = create_bot(parent / "bot", interactive=False)
    with bot.env_file.open("a") as env:
        env.write(f"ANTHROPIC_API_KEY={TEST_API_KEY}\nZULIP_API_KEY={zulip.api_key}\n")
    config = yaml.safe_load(bot.config_file.read_text())
    config.setdefault("providers", {}).setdefault("anthropic", {})["api_base"] = model_url
    config.setdefault("channels", {})["zulip"] = {
        "enabled": True,
        "site": zulip.base_url,
        "email": zulip.bot.email,
        "api_key": "${ZULIP_API_KEY}",
        "allow_from": list(allow_from),
        **(settings or {}),
    }
    if port is not None:
        config["gateway"]["port"] = port
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file


def zulip_gateway(
    loaded: LoadedConfig,
    *,
    serve_http: bool = True,
    wall_clock: Callable[[], float] = time.time,
) -> Gateway:
    """The real gateway of `loaded` with the channels its config enables."""
    channels = chat_channels(loaded, wall_clock=wall_clock)
    assert [spec.name for spec in channels] == ["zulip"]
    return build_gateway(
        loaded,
        echo=io.StringIO(),
        serve_http=serve_http,
        wall_clock=wall_clock,
        channels=channels,
    )
