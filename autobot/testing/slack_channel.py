"""The Slack channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_slack() as fake, run_slack_channel(
        channel_config(fake, allow_from=("U1001",)), fake, bot_dir=tmp_path
    ) as run:
        fake.post_dm(alice, "hello")
        message = await run.routed.receive()       # what the router would get
        await run.reply(message, "Hi Alice!")      # what a session would answer

As `autobot.testing.telegram_channel` does for Telegram: the channel's
outbound `Mailbox`, its `ChannelHealth` on a `ChannelBoard`, and the channel
supervisor with one child whose factory is the real `SlackLauncher` (an HTTP
client, the inbound journal and the pairing store per incarnation, then the
`SlackChannel` actor with its sockets). The router is a memory channel the
test reads, replies go into the mailbox from the test, the log is kept in
memory. Use `patient_clock()` (from the Telegram helper): the journal's
fsync runs in a thread, and socket pings wait for real loopback pongs.
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
from autobot.channels.slack.launch import CHANNEL, SlackLauncher
from autobot.channels.spec import ChannelEnv
from autobot.config.schema import SlackConfig
from autobot.config.secret import Secret
from autobot.logs.records import Level, LogRecord
from autobot.runtime import Actor, ChildEnv, ChildSpec, Mailbox, Supervisor
from autobot.testing.fake_slack import FakeSlack
from autobot.testing.logs import capture_logger, drain

HEALTH_POLL_SECONDS = 0.01


def channel_config(slack: FakeSlack, **settings: Any) -> SlackConfig:
    """`channels.slack` enabled against `slack` (its tokens and API base), with
    any other `SlackConfig` field from `settings`."""
    return SlackConfig(
        enabled=True,
        bot_token=Secret(slack.bot_token),
        app_token=Secret(slack.app_token),
        api_base=slack.api_base,
        **settings,
    )


@attrs.define(kw_only=True, eq=False)
class SlackRun:
    """A running channel and the test's handles on it (see the module docstring)."""

    slack: FakeSlack
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
        """A session's final reply to `answered`, as `agent.session` builds it:
        in its thread, completing its journal entry (`fields` override)."""
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

    async def connected(self, count: int = 1) -> None:
        """Wait until the fake has seen `count` socket connections open."""
        await self.slack.until(lambda: len(self.slack.connections) >= count)

    async def up(self) -> None:
        """Wait until the channel says it is connected (it has read a hello)."""
        await self.health_until(lambda health: health.up)

    async def health_until(self, condition: Callable[[ChannelHealth], bool]) -> None:
        """Wait until `condition(health)` holds: looks every `HEALTH_POLL_SECONDS`
        (virtual time moves by that much)."""
        while not condition(self.health):  # noqa: ASYNC110 -- health is plain data
            await trio.sleep(HEALTH_POLL_SECONDS)

    async def settled(self) -> None:
        """Wait until every event queued in the fake was acknowledged (each was
        judged, answered if a denial, journaled and handed to the router)."""
        await self.slack.until(lambda: not self.slack.pending)


@asynccontextmanager
async def run_slack_channel(
    config: SlackConfig,
    slack: FakeSlack,
    *,
    bot_dir: Path,
    rng: random.Random | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> AsyncIterator[SlackRun]:
    """Run the channel until the block ends, then stop it gracefully.
    `bot_dir` holds the journal and the pairing store, `bot_dir/workspace` the
    inbox; `rng` is the channel's jitter source; `wall_clock` dates pairing codes."""
    workspace = bot_dir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    logger, log = capture_logger("gateway")
    board = ChannelBoard.for_channels([CHANNEL], now=trio.current_time())
    mailbox = Mailbox(CHANNEL, CHANNEL_MAILBOX_SIZE)
    # The session router's mailbox, read by the test instead of the router.
    router_send, routed = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    launcher = SlackLauncher(
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
        rng=random.Random(0),  # restarts are failures in these tests: their jitter is moot
    )
    with router_send, routed, mailbox.sender() as outbox:
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            yield SlackRun(
                slack=slack,
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
