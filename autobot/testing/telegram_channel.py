"""The Telegram channel actor as the gateway supervises it, with the session router played by the test.

    async with serve_fake_telegram() as fake, run_telegram_channel(
        channel_config(fake, allow_from=("1001",)), fake, bot_dir=tmp_path
    ) as run:
        fake.post_text(ALICE, "hello")
        message = await run.routed.receive()       # what the router would get
        await run.reply(message, "Hi Alice!")      # what a session would answer

`run_telegram_channel` runs the real `TelegramLauncher` (an HTTP client,
the inbound journal and the pairing store per incarnation, then the
`TelegramChannel` actor) under a channel supervisor as the gateway does,
with the session router played by the test (`channel_run.run_channel`).

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

from autobot.channels.base import InboundMessage
from autobot.channels.telegram.launch import CHANNEL, TelegramLauncher
from autobot.config.schema import TelegramConfig
from autobot.config.secret import Secret
from autobot.testing.channel_run import ChannelRun, run_channel
from autobot.testing.fake_telegram import FakeTelegram

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
class TelegramRun(ChannelRun):
    """A running Telegram channel (`ChannelRun`) and the fake it talks to."""

    telegram: FakeTelegram

    async def reply(self, answered: InboundMessage, content: str, **fields: Any) -> None:
        """Send a session's final reply to `answered` into the channel's mailbox:
        quoting it in a group, in its forum topic, completing its journal entry
        (`fields` override any of these `OutboundMessage` fields)."""
        await self.send_final(
            answered,
            content,
            **{
                "reply_to_id": answered.message_id if answered.is_group else None,
                "thread_id": answered.thread_id,
                **fields,
            },
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
) -> AsyncIterator[TelegramRun]:
    """Run the channel (see the module docstring) until the block ends, then
    stop it gracefully. `bot_dir` holds the journal and the pairing store,
    `bot_dir/workspace` the inbox; `rng` is the channel's jitter source (a
    seeded one makes backoff exact); `wall_clock` dates pairing codes."""
    workspace = bot_dir / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    launcher = TelegramLauncher(
        config=config, bot_dir=bot_dir, workspace=workspace, wall_clock=wall_clock
    )
    async with run_channel(
        TelegramRun,
        CHANNEL,
        launcher,
        bot_dir=bot_dir,
        workspace=workspace,
        rng=rng,
        telegram=telegram,
    ) as run:
        yield run
