"""A whole bot for tests: `autobot new` + WhatsApp pointed at a fake bridge, the model at a fake.

`make_whatsapp_bot` writes a bot directory the way a user would (the
scaffold, the model key in `.env`, `config.yml` edited) with the WhatsApp
channel enabled: `bridge: external` at `bridge_url` (the shared secret file
written 0600 with `key`), or `bridge: managed` when `bridge_url` is None
(the gateway generates the secret). The gateway's HTTP actor listens on
`http_port` (tests run side by side: 0 picks a free one).

`python -m autobot --config PATH gateway` runs such a bot's gateway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from autobot.scaffold.create import create_bot
from autobot.testing.gateway_process import free_port
from autobot.testing.telegram_bot import TEST_API_KEY
from autobot.testing.whatsapp_channel import write_secret


def make_whatsapp_bot(
    parent: Path,
    *,
    model_url: str,
    bridge_url: str | None,
    key: bytes | None = None,
    allow_from: Iterable[str] = (),
    whatsapp: Mapping[str, Any] | None = None,
    http_port: int | None = None,
) -> Path:
    """A fresh bot under `parent` (returns its config path; see the module docstring)."""
    bot = create_bot(parent / "bot", interactive=False)
    with bot.env_file.open("a") as env:
        env.write(f"ANTHROPIC_API_KEY={TEST_API_KEY}\n")
    config = yaml.safe_load(bot.config_file.read_text())
    config.setdefault("providers", {}).setdefault("anthropic", {})["api_base"] = model_url
    config.setdefault("gateway", {})["port"] = http_port or free_port()
    settings: dict[str, Any] = {"enabled": True, "allow_from": list(allow_from)}
    if bridge_url is None:
        settings["bridge"] = "managed"
    else:
        settings.update(bridge="external", bridge_url=bridge_url)
        if key is not None:
            write_secret(bot.path, key)
    config.setdefault("channels", {})["whatsapp"] = {**settings, **(whatsapp or {})}
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file
