"""Replay at start: more unanswered messages than the router's mailbox holds.

The channels start before the session router; a channel that replayed its
journal before reporting itself started would wait on a full router mailbox
that nobody drains yet, and the gateway would never finish starting.
"""

from __future__ import annotations

from pathlib import Path

import trio

from autobot.agent.router import ROUTER_MAILBOX_SIZE
from autobot.channels.base import InboundMessage
from autobot.channels.inbound_journal import Arrival, InboundJournal, inbound_journal_path
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.telegram_channel import channel_config, run_telegram_channel

PENDING = ROUTER_MAILBOX_SIZE + 50


def journal_unanswered(bot_dir: Path, count: int) -> None:
    arrivals = [
        Arrival(
            message=InboundMessage(
                channel="telegram", chat_id=str(2000 + n), content=f"m{n}", sender_id=str(2000 + n)
            ),
            dedup_keys=(f"update:{n}",),
            position=n,
        )
        for n in range(count)
    ]
    with InboundJournal.open(inbound_journal_path(bot_dir, "telegram")).journal as journal:
        journal.append_many(arrivals)


async def test_a_replay_larger_than_the_router_mailbox_does_not_block_start(
    tmp_path: Path,
) -> None:
    journal_unanswered(tmp_path, PENDING)
    async with serve_fake_telegram() as fake:
        with trio.fail_after(30):
            async with run_telegram_channel(
                channel_config(fake, allow_from=("*",)), fake, bot_dir=tmp_path
            ) as run:
                # started although nobody read the router side yet
                received = [await run.routed.receive() for _ in range(PENDING)]
    assert [message.content for message in received] == [f"m{n}" for n in range(PENDING)]
