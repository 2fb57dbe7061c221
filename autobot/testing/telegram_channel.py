"""The Telegram channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_telegram() as fake, run_telegram_channel(
        channel_config(fake, allow_from=("1001",)), fake, bot_dir=tmp_path
    ) as run:
        fake.post_text(ALICE, "hello")
        message = await run.routed.receive()       # what the router would get
        await run.reply(message, "Hi Alice!")      # what a session would answer

`run_telegram_channel` builds what the composition root (`autobot.app`)
builds for one chat channel: the channel's outbound `Mailbox`, its
`ChannelHealth` on a `ChannelBoard`, and the channel supervisor with one
child whose factory is the real `TelegramLauncher` (an HTTP client, the
inbound journal and the pairing store per incarnation, then the
`TelegramChannel` actor). The session router is replaced by a memory channel
the test reads (`ChannelRun.routed`), replies go into the channel's mailbox
from the test (`ChannelRun.reply`), and the log is kept in memory
(`ChannelRun.records`). Nothing else of the gateway runs (no sandbox pool, no
model), so a test can assert exact virtual times.

Threads and virtual time: the channel still does some work in worker threads
(the pairing book, the journal's fsync, rendering a reply). trio's
`autojump_clock` jumps as soon as every task is blocked, and a task waiting
for a thread is blocked, so a journal write could see virtual time leap to
the next deadline (the test's own `fail_after` included). `patient_clock()`
jumps only once the run has been idle for `PATIENT_AUTOJUMP_SECONDS` of real
time, far longer than any of that work takes.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from autobot.agent.router import ROUTER_MAILBOX_SIZE
from autobot.app import CHANNEL_MAILBOX_SIZE, CHANNELS_SHUTDOWN_GRACE
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelBoard, ChannelHealth
from autobot.channels.spec import ChannelEnv
from autobot.channels.telegram.launch import CHANNEL, TelegramLauncher
from autobot.config.schema import TelegramConfig
from autobot.config.secret import Secret
from autobot.logs.records import Level, LogRecord
from autobot.runtime import Actor, ChildEnv, ChildSpec, Mailbox, Supervisor
from autobot.testing.fake_telegram import FakeTelegram
from autobot.testing.logs import capture_logger, drain

PATIENT_AUTOJUMP_SECONDS = 0.25  # real idle time before virtual time jumps (threads take ms)
TEST_POLL_TIMEOUT = 10  # seconds a getUpdates waits in these tests (the default is 30)


def patient_clock() -> trio.testing.MockClock:
    """An autojump clock that waits out the channel's thread work (module docstring)."""
    return trio.testing.MockClock(autojump_threshold=PATIENT_AUTOJUMP_SECONDS)


def channel_config(telegram: FakeTelegram, **settings: Any) -> TelegramConfig:
    """`channels.telegram` enabled against `telegram` (its token and URL), with
    `poll_timeout` `TEST_POLL_TIMEOUT` unless `settings` (any other
    `TelegramConfig` field) say otherwise."""
    fields: dict[str, Any] = {"poll_timeout": TEST_POLL_TIMEOUT, **settings}
    return TelegramConfig(
        enabled=True, token=Secret(telegram.token), api_base=telegram.base_url, **fields
    )


@attrs.define(kw_only=True, eq=False)
class ChannelRun:
    """A running channel and the test's handles on it.

    `routed` receives what the channel hands to the session router;
    `outbox` is a sender into the channel's mailbox (as the router's
    `OutboundRouter` holds one); `board` has the channel's health;
    `supervisor` is the channel supervisor (restarts show in its statistics).
    """

    telegram: FakeTelegram
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

    def routed_so_far(self) -> list[InboundMessage]:
        """What the router was handed and the test has not received yet."""
        found: list[InboundMessage] = []
        while True:
            try:
                found.append(self.routed.receive_nowait())
            except trio.WouldBlock:
                return found

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """Send a session's final reply to `answered` into the channel's mailbox:
        quoting it in a group, in its forum topic, completing its journal entry
        (`fields` override any of these `OutboundMessage` fields)."""
        values: dict[str, Any] = {
            "final": True,
            "reply_to_id": answered.message_id if answered.is_group else None,
            "thread_id": answered.thread_id,
            "completes": () if answered.journal_id is None else (answered.journal_id,),
            **fields,
        }
        await self.outbox.send(
            OutboundMessage(channel=CHANNEL, chat_id=answered.chat_id, content=content, **values)
        )

    async def settled(self) -> None:
        """Wait until every update posted so far is confirmed and the channel
        polls again: each was judged, answered if a command or a denial,
        journaled and handed to the router (the channel confirms a batch only
        after all of that)."""
        fake = self.telegram
        await fake.until(lambda: not fake.pending_update_ids and fake.active_poll is not None)


@asynccontextmanager
async def run_telegram_channel(
    config: TelegramConfig,
    telegram: FakeTelegram,
    *,
    bot_dir: Path,
    rng: random.Random | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[ChannelRun]:
    """Run the channel (see the module docstring) until the block ends, then
    stop it gracefully. `bot_dir` holds the journal and the pairing store,
    `bot_dir/workspace` the inbox; `rng` is the channel's jitter source (a
    seeded one makes backoff exact); `wall_clock` dates pairing codes."""
    workspace = bot_dir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    logger, log = capture_logger("gateway")
    board = ChannelBoard.for_channels([CHANNEL], now=trio.current_time())
    mailbox = Mailbox(CHANNEL, CHANNEL_MAILBOX_SIZE)
    # The session router's mailbox, read by the test instead of the router.
    router_send, routed = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    launcher = TelegramLauncher(
        config=config, bot_dir=bot_dir, workspace=workspace, wall_clock=wall_clock
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
            ChildSpec(
                id=CHANNEL,
                factory=incarnation,
                shutdown_grace=CHANNELS_SHUTDOWN_GRACE,
            )
        ],
        rng=random.Random(0),  # restarts are failures in these tests: their jitter is moot
    )
    with router_send, routed, mailbox.sender() as outbox:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            yield ChannelRun(
                telegram=telegram,
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
