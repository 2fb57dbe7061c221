"""The WhatsApp channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_bridge(KEY) as bridge, run_whatsapp_channel(
        external_config(bridge), bot_dir=tmp_path, key=KEY
    ) as run:
        bridge.post(direct_message("+15551234567", "hello", message_id=bridge.message_id()))
        message = await run.routed.receive()     # what the router would get
        await run.reply(message, "Hi!")          # what a session would answer

`run_whatsapp_channel` runs the real `WhatsAppLauncher` under a channel
supervisor as the gateway does, with the session router played by the test
(`channel_run.run_channel`). The bridge's secret file is written into the
bot directory (0600) when a `key` is given; a managed bridge runs
`bridge_command`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs

from autobot.channels.base import InboundMessage
from autobot.channels.whatsapp.endpoint import UrlEndpoint
from autobot.channels.whatsapp.jids import CHANNEL
from autobot.channels.whatsapp.launch import WhatsAppLauncher
from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.store.atomic import ensure_private_dir, write_private_file
from autobot.testing.channel_run import ChannelRun, run_channel
from autobot.testing.fake_whatsapp_bridge import FakeBridge

SECRET_FILE = "state/whatsapp-bridge-secret"


def write_secret(bot_dir: Path, key: bytes, name: str = SECRET_FILE) -> Path:
    """The bridge secret file of `bot_dir` holding `key` (0600)."""
    path = bot_dir / name
    ensure_private_dir(path.parent)
    write_private_file(path, key.hex() + "\n")
    return path


def external_config(bridge: FakeBridge, **settings: Any) -> WhatsAppConfig:
    """`channels.whatsapp` enabled against the fake `bridge` on loopback TCP
    (`bridge: external`), with any other field in `settings`."""
    [url] = [e.url for e in bridge.endpoints if isinstance(e, UrlEndpoint)]
    fields: dict[str, Any] = {"bridge": BridgeMode.EXTERNAL, "bridge_url": url, **settings}
    return WhatsAppConfig(enabled=True, **fields)


@attrs.define(kw_only=True, eq=False)
class WhatsAppRun(ChannelRun):
    """A running WhatsApp channel (`ChannelRun`); the test holds the fake bridge."""

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """A session's final reply to `answered` (quoting it in a group,
        completing its journal entry; `fields` override)."""
        await self.send_final(
            answered,
            content,
            **{"reply_to_id": answered.message_id if answered.is_group else None, **fields},
        )


@asynccontextmanager
async def run_whatsapp_channel(
    config: WhatsAppConfig,
    *,
    bot_dir: Path,
    key: bytes | None = None,
    rng: random.Random | None = None,
    wall_clock: Callable[[], float] = time.time,
    bridge_command: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[WhatsAppRun]:
    """Run the channel until the block ends, then stop it gracefully. `key`
    (when given) is written as the bridge secret file first; `rng` is the
    channel's jitter source; `bridge_command` replaces `node bridge.mjs` for
    a managed bridge; `environ` is the gateway's environment."""
    workspace = bot_dir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    if key is not None:
        write_secret(bot_dir, key, config.bridge_secret_file)
    launcher = WhatsAppLauncher(
        config=config,
        bot_dir=bot_dir,
        workspace=workspace,
        wall_clock=wall_clock,
        bridge_command=None if bridge_command is None else tuple(bridge_command),
        environ=dict(os.environ if environ is None else environ),
    )
    async with run_channel(
        WhatsAppRun, CHANNEL, launcher, bot_dir=bot_dir, workspace=workspace, rng=rng
    ) as run:
        yield run
