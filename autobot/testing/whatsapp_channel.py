"""The WhatsApp channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_bridge(KEY) as bridge, run_whatsapp_channel(
        external_config(bridge), bot_dir=tmp_path, key=KEY
    ) as run:
        bridge.post(direct_message("+15551234567", "hello", message_id=bridge.message_id()))
        message = await run.routed.receive()     # what the router would get
        await run.reply(message, "Hi!")          # what a session would answer

`run_whatsapp_channel` builds what the composition root builds for one chat
channel (its outbound `Mailbox`, its `ChannelHealth` on a `ChannelBoard`,
the channel supervisor with one child whose factory is the real
`WhatsAppLauncher`); the session router is a memory channel the test reads,
replies go into the channel's mailbox from the test, the log is kept in
memory. The bridge's secret file is written into the bot directory (0600)
when a `key` is given; a managed bridge runs `bridge_command`.
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
import trio

from autobot.agent.router import ROUTER_MAILBOX_SIZE
from autobot.app import CHANNEL_MAILBOX_SIZE, CHANNELS_SHUTDOWN_GRACE
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelBoard, ChannelHealth
from autobot.channels.spec import ChannelEnv
from autobot.channels.whatsapp.endpoint import UrlEndpoint
from autobot.channels.whatsapp.jids import CHANNEL
from autobot.channels.whatsapp.launch import WhatsAppLauncher
from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.logs.records import Level, LogRecord
from autobot.runtime import Actor, ChildEnv, ChildSpec, Mailbox, Supervisor
from autobot.store.atomic import ensure_private_dir, write_private_file
from autobot.testing.fake_whatsapp_bridge import FakeBridge
from autobot.testing.logs import capture_logger, drain

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
class WhatsAppRun:
    """A running channel and the test's handles on it."""

    board: ChannelBoard
    supervisor: Supervisor
    routed: trio.MemoryReceiveChannel[InboundMessage]
    outbox: trio.MemorySendChannel[OutboundMessage]
    bot_dir: Path
    workspace: Path
    _log: trio.MemoryReceiveChannel[LogRecord]
    _records: list[LogRecord] = attrs.field(factory=list)

    @property
    def health(self) -> ChannelHealth:
        return self.board[CHANNEL]

    def records(self) -> list[LogRecord]:
        """Every record the channel logged so far, in order."""
        self._records.extend(drain(self._log))
        return list(self._records)

    def logged(self, level: Level, text: str) -> list[LogRecord]:
        """The records at `level` whose message contains `text`."""
        return [r for r in self.records() if r.level is level and text in r.message]

    async def until_logged(self, level: Level, text: str, count: int = 1) -> list[LogRecord]:
        """Wait until `count` records at `level` whose message contains
        `text` were logged (since the start); all of them so far."""
        while len(found := self.logged(level, text)) < count:
            self._records.append(await self._log.receive())
        return found

    def routed_so_far(self) -> list[InboundMessage]:
        """What the router was handed and the test has not received yet."""
        found: list[InboundMessage] = []
        while True:
            try:
                found.append(self.routed.receive_nowait())
            except trio.WouldBlock:
                return found

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """A session's final reply to `answered` (quoting it in a group,
        completing its journal entry; `fields` override)."""
        values: dict[str, Any] = {
            "final": True,
            "reply_to_id": answered.message_id if answered.is_group else None,
            "completes": () if answered.journal_id is None else (answered.journal_id,),
            **fields,
        }
        await self.outbox.send(
            OutboundMessage(channel=CHANNEL, chat_id=answered.chat_id, content=content, **values)
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
    logger, log = capture_logger("gateway")
    board = ChannelBoard.for_channels([CHANNEL], now=trio.current_time())
    mailbox = Mailbox(CHANNEL, CHANNEL_MAILBOX_SIZE)
    # The session router's mailbox, read by the test instead of the router.
    router_send, routed = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    launcher = WhatsAppLauncher(
        config=config,
        bot_dir=bot_dir,
        workspace=workspace,
        wall_clock=wall_clock,
        bridge_command=None if bridge_command is None else tuple(bridge_command),
        environ=dict(os.environ if environ is None else environ),
    )
    channel_rng = rng or random.Random()

    def incarnation(env: ChildEnv) -> Actor:
        return launcher(
            ChannelEnv(
                name=CHANNEL,
                outbox=mailbox.inbox(),
                router=router_send.clone(),
                health=board[CHANNEL],
                logger=logger.child(CHANNEL),
                stopping=env.stopping,
                rng=channel_rng,
            )
        )

    supervisor = Supervisor(
        name="channels",
        children=[
            ChildSpec(id=CHANNEL, factory=incarnation, shutdown_grace=CHANNELS_SHUTDOWN_GRACE)
        ],
        rng=random.Random(0),  # restarts are failures in these tests: their jitter is moot
    )
    with router_send, routed, mailbox.sender() as outbox:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            yield WhatsAppRun(
                board=board,
                supervisor=supervisor,
                routed=routed,
                outbox=outbox,
                bot_dir=bot_dir,
                workspace=workspace,
                log=log,
            )
            supervisor.stop()
    mailbox.close()
