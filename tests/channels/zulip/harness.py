"""The Zulip channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_zulip() as fake, run_zulip_channel(
        zulip_config(fake, allow_from=("101",)), fake, bot_dir=tmp_path
    ) as run:
        fake.send_direct(alice, "hello")
        message = await run.routed.receive()       # what the router would get
        await run.reply(message, "Hi Alice!")      # what a session would answer

`run_zulip_channel` runs the real `ZulipLauncher` under a channel supervisor
as the gateway does, with the session router played by the test
(`autobot.testing.channel_run`). Nothing else of the gateway runs, so a test
can assert exact virtual times (with `patient_clock`: the journal and the
queue file are written in worker threads).
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
from autobot.channels.zulip.launch import CHANNEL, ZulipLauncher
from autobot.config.schema import ZulipConfig
from autobot.config.secret import Secret
from autobot.testing.channel_run import ChannelRun, run_channel
from autobot.testing.fake_zulip import FakeZulip

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
class ZulipRun(ChannelRun):
    """A running Zulip channel (`ChannelRun`) and the fake it talks to."""

    zulip: FakeZulip

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """A session's final reply to `answered` (in its topic, completing its journal entry)."""
        await self.send_final(answered, content, **{"thread_id": answered.thread_id, **fields})

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
    launcher = ZulipLauncher(
        config=config, bot_dir=bot_dir, workspace=workspace, wall_clock=wall_clock
    )
    with trio.fail_after(TEST_DEADLINE):
        async with run_channel(
            ZulipRun, CHANNEL, launcher, bot_dir=bot_dir, workspace=workspace, rng=rng, zulip=zulip
        ) as run:
            yield run
