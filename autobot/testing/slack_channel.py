"""The Slack channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_slack() as fake, run_slack_channel(
        channel_config(fake, allow_from=("U1001",)), fake, bot_dir=tmp_path
    ) as run:
        fake.post_dm(alice, "hello")
        message = await run.routed.receive()       # what the router would get
        await run.reply(message, "Hi Alice!")      # what a session would answer

The shared harness (`channel_run.run_channel`: the channel's mailbox, its
health board, the channel supervisor, the captured log) around the real
`SlackLauncher` (an HTTP client, the inbound journal and the pairing store
per incarnation, then the `SlackChannel` actor and its sockets). Use
`telegram_channel.patient_clock()`: the journal's fsync runs in a thread,
and the sockets' pings wait for real loopback pongs.
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

from autobot.channels.base import InboundMessage
from autobot.channels.health import ChannelHealth
from autobot.channels.slack.launch import CHANNEL, SlackLauncher
from autobot.config.schema import SlackConfig
from autobot.config.secret import Secret
from autobot.testing.channel_run import ChannelRun, run_channel
from autobot.testing.fake_slack import FakeSlack

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
class SlackRun(ChannelRun):
    """A running Slack channel (`ChannelRun`) and the fake it talks to."""

    slack: FakeSlack

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """A session's final reply to `answered`, as `agent.session` builds it:
        in its thread, completing its journal entry (`fields` override)."""
        await self.send_final(
            answered,
            content,
            **{
                "reply_to_id": answered.message_id if answered.is_group else None,
                "thread_id": answered.thread_id,
                **fields,
            },
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
    launcher = SlackLauncher(
        config=config, bot_dir=bot_dir, workspace=workspace, wall_clock=wall_clock
    )
    async with run_channel(
        SlackRun, CHANNEL, launcher, bot_dir=bot_dir, workspace=workspace, rng=rng, slack=slack
    ) as run:
        yield run
