"""One chat channel actor as the gateway supervises it, with the session router played by the test.

`run_channel` builds what the composition root (`autobot.app`) builds for
one chat channel: the channel's outbound `Mailbox`, its `ChannelHealth` on a
`ChannelBoard`, and the channel supervisor with one child whose factory is
the channel's real launcher (`ChannelSpec.factory`). The session router is
replaced by a memory channel the test reads (`ChannelRun.routed`), replies
go into the channel's mailbox from the test (`ChannelRun.send_final`), and
the log is kept in memory (`ChannelRun.records`). Nothing else of the
gateway runs (no sandbox pool, no model), so a test can assert exact
virtual times.

Each channel's harness (`telegram_channel`, `whatsapp_channel`, the Zulip
tests' `harness`) builds its launcher, subclasses `ChannelRun` with its fake
and its own way of replying, and runs it here.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from autobot.agent.router import ROUTER_MAILBOX_SIZE
from autobot.app import CHANNEL_MAILBOX_SIZE, CHANNELS_SHUTDOWN_GRACE
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelBoard, ChannelHealth
from autobot.channels.spec import ChannelEnv
from autobot.logs.records import Level, LogRecord
from autobot.runtime import Actor, ChildEnv, ChildSpec, Mailbox, Supervisor
from autobot.testing.logs import capture_logger, drain


@attrs.define(kw_only=True, eq=False)
class ChannelRun:
    """A running channel and the test's handles on it.

    `name` is the channel's; `routed` receives what the channel hands to the
    session router; `outbox` is a sender into the channel's mailbox (as the
    router's `OutboundRouter` holds one); `board` has the channel's health;
    `supervisor` is the channel supervisor (restarts show in its statistics).
    """

    name: str
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
        return self.board[self.name]

    def problems(self, grace: float) -> list[str]:
        """What `/healthz` would name now with `down_grace_seconds` = `grace`."""
        return self.board.problems(trio.current_time(), grace)

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

    async def send_final(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """Send a session's final reply to `answered` into the channel's
        mailbox, completing its journal entry; `fields` are any other
        `OutboundMessage` fields (and override these)."""
        values: dict[str, Any] = {
            "final": True,
            "completes": () if answered.journal_id is None else (answered.journal_id,),
            **fields,
        }
        await self.outbox.send(
            OutboundMessage(channel=self.name, chat_id=answered.chat_id, content=content, **values)
        )


Run = TypeVar("Run", bound=ChannelRun)


@asynccontextmanager
async def run_channel(
    run_type: type[Run],
    name: str,
    launcher: Callable[[ChannelEnv], Actor],
    *,
    bot_dir: Path,
    workspace: Path,
    rng: random.Random | None = None,
    **extra: Any,
) -> AsyncIterator[Run]:
    """Run the channel `name` whose `ChannelSpec.factory` is `launcher`
    (module docstring) until the block ends, then stop it gracefully; yields
    a `run_type` holding `extra` as its own fields. `rng` is the channel's
    jitter source (a seeded one makes backoff exact)."""
    logger, log = capture_logger("gateway")
    board = ChannelBoard.for_channels([name], now=trio.current_time())
    mailbox = Mailbox(name, CHANNEL_MAILBOX_SIZE)
    # The session router's mailbox, read by the test instead of the router.
    router_send, routed = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    channel_rng = rng or random.Random()

    def incarnation(env: ChildEnv) -> Actor:
        return launcher(
            ChannelEnv(
                name=name,
                outbox=mailbox.inbox(),
                router=router_send.clone(),
                health=board[name],
                logger=logger.child(name),
                stopping=env.stopping,
                rng=channel_rng,
            )
        )

    supervisor = Supervisor(
        name="channels",
        children=[ChildSpec(id=name, factory=incarnation, shutdown_grace=CHANNELS_SHUTDOWN_GRACE)],
        rng=random.Random(0),  # restarts are failures in these tests: their jitter is moot
    )
    with router_send, routed, mailbox.sender() as outbox:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            yield run_type(
                name=name,
                board=board,
                supervisor=supervisor,
                routed=routed,
                outbox=outbox,
                bot_dir=bot_dir,
                workspace=workspace,
                log=log,
                **extra,
            )
            supervisor.stop()
    mailbox.close()
