"""The Zulip channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_zulip() as fake, run_zulip_channel(
        zulip_config(fake, allow_from=("101",)), fake, bot_dir=tmp_path
    ) as run:
        fake.send_direct(alice, "hello")
        message = await run.routed.receive()       # what the router would get
        await run.reply(message, "Hi Alice!")      # what a session would answer

`run_zulip_channel` builds what the composition root builds for one chat
channel: the channel's outbound `Mailbox`, its `ChannelHealth` on a
`ChannelBoard`, and the channel supervisor with one child whose factory is
the real `ZulipLauncher`. The session router is a memory channel the test
reads, replies go into the channel's mailbox from the test, and the log is
kept in memory. Nothing else of the gateway runs, so a test can assert exact
virtual times (with `patient_clock`: the journal and the queue file are
written in worker threads).
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

from autobot.agent.router import ROUTER_MAILBOX_SIZE
from autobot.app import CHANNEL_MAILBOX_SIZE, CHANNELS_SHUTDOWN_GRACE
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelBoard, ChannelHealth
from autobot.channels.spec import ChannelEnv
from autobot.channels.zulip.launch import CHANNEL, ZulipLauncher
from autobot.config.schema import ZulipConfig
from autobot.config.secret import Secret
from autobot.logs.records import Level, LogRecord
from autobot.runtime import Actor, ChildEnv, ChildSpec, Mailbox, Supervisor
from autobot.testing.fake_zulip import FakeZulip
from autobot.testing.logs import capture_logger, drain

LOOK_SECONDS = 0.5  # how often `eventually` looks (virtual time)
TEST_DEADLINE = 3600.0  # virtual seconds: a test that hangs fails (about 20 s of real time)


def zulip_config(zulip: FakeZulip, **settings: Any) -> ZulipConfig:
    """`channels.zulip` enabled against `zulip` (its URL, the bot's email and key)."""
    return ZulipConfig(
        enabled=True,
        site=zulip.base_url,
        email=zulip.bot.email,
        api_key=Secret(zulip.api_key),
        **settings,
    )


@attrs.define(kw_only=True, eq=False)
class ZulipRun:
    """A running channel and the test's handles on it (see the module docstring)."""

    zulip: FakeZulip
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
        return self.board.problems(trio.current_time(), grace)

    def records(self) -> list[LogRecord]:
        self._records.extend(drain(self._log))
        return list(self._records)

    def logged(self, level: Level, text: str) -> list[LogRecord]:
        return [r for r in self.records() if r.level is level and text in r.message]

    def routed_so_far(self) -> list[InboundMessage]:
        found: list[InboundMessage] = []
        while True:
            try:
                found.append(self.routed.receive_nowait())
            except trio.WouldBlock:
                return found

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """A session's final reply to `answered` (in its topic, completing its journal entry)."""
        values: dict[str, Any] = {
            "final": True,
            "thread_id": answered.thread_id,
            "completes": () if answered.journal_id is None else (answered.journal_id,),
            **fields,
        }
        await self.outbox.send(
            OutboundMessage(channel=CHANNEL, chat_id=answered.chat_id, content=content, **values)
        )

    async def eventually(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds, looking every `LOOK_SECONDS` of
        virtual time (for state the actor changes without telling the fake:
        its health counters, the journal's backlog)."""
        while not condition():  # noqa: ASYNC110 -- written by the actor, no event to wait on
            await trio.sleep(LOOK_SECONDS)

    async def backlog_is(self, entries: int) -> None:
        """Wait until the inbound journal holds `entries` unanswered messages."""
        await self.eventually(lambda: self.health.journal_backlog == entries)

    async def settled(self) -> None:
        """Wait until every event queued so far is acknowledged and the channel
        polls again: each was judged, answered if refused, journaled and
        handed to the router (the channel acknowledges a batch only after)."""
        fake = self.zulip
        await fake.until(lambda: fake.pending_events() == 0 and fake.waiting_polls > 0)


@asynccontextmanager
async def run_zulip_channel(
    config: ZulipConfig,
    zulip: FakeZulip,
    *,
    bot_dir: Path,
    rng: random.Random | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[ZulipRun]:
    """Run the channel until the block ends, then stop it gracefully.
    `bot_dir` holds the journal, the queue file and the pairing store,
    `bot_dir/workspace` the inbox; `rng` is the channel's jitter source;
    `wall_clock` dates the queue file and pairing codes. The block fails
    after `TEST_DEADLINE` virtual seconds."""
    workspace = bot_dir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    logger, log = capture_logger("gateway")
    board = ChannelBoard.for_channels([CHANNEL], now=trio.current_time())
    mailbox = Mailbox(CHANNEL, CHANNEL_MAILBOX_SIZE)
    # The session router's mailbox, read by the test instead of the router.
    router_send, routed = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    launcher = ZulipLauncher(
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
            ChildSpec(id=CHANNEL, factory=incarnation, shutdown_grace=CHANNELS_SHUTDOWN_GRACE)
        ],
        rng=random.Random(0),
    )
    with router_send, routed, mailbox.sender() as outbox, trio.fail_after(TEST_DEADLINE):
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            yield ZulipRun(
                zulip=zulip,
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
