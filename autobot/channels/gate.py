"""The inbound path every chat channel shares: access, journal, router, done.

`ChannelGate` owns one channel's side of the contract (ARCHITECTURE.md,
"Channels"): `check` decides who may talk (`access.decide_access` plus the
pairing store and the once-an-hour reply memory) and logs `ACCESS DENIED`;
`accept` appends allowed messages to the inbound journal (fsync-ed: only
then may the platform be told they arrived); `dispatch` hands journaled
messages to the session router; `delivered` marks the entries a final
reply answered. Counters go to the channel's `ChannelHealth`.

The pairing store is a file shared with `autobot pairing`. Under
`dm_policy: allowlist` it plays no part and is not read; under `pairing` it
is read in a worker thread, and only a decision that issues a code is taken
again under the store's lock (`PairingStore.transact`), which writes it.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio

from autobot.channels.access import (
    AccessDecision,
    AccessPolicy,
    Action,
    Chat,
    ReplyMemory,
    Sender,
    decide_access,
)
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelHealth
from autobot.channels.inbound_journal import (
    Arrival,
    AsyncInboundJournal,
    InboundJournal,
    JournalEntry,
    inbound_journal_path,
)
from autobot.channels.pairing import PairingBook, new_pairing_code
from autobot.channels.pairing_store import PairingStore
from autobot.config.schema import DmPolicy
from autobot.logs.records import Logger
from autobot.runtime.batching import ThreadBatcher


@attrs.define(kw_only=True, eq=False)
class ChannelGate:
    """Access, journal and router for channel `policy.channel` (see the module docstring).

    `wall_clock` gives seconds since the epoch (pairing codes expire across
    processes); `pairing_limiter` serialises the pairing store's thread work.
    `pending` are the journal's entries without a delivered reply when it was
    opened (the channel replays them at start).
    """

    policy: AccessPolicy
    pairing: PairingStore
    journal: AsyncInboundJournal
    router: trio.MemorySendChannel[InboundMessage]
    health: ChannelHealth
    logger: Logger
    wall_clock: Callable[[], float]
    pending: tuple[JournalEntry, ...] = ()
    replies: ReplyMemory = attrs.field(factory=ReplyMemory)
    pairing_limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    @property
    def channel(self) -> str:
        return self.policy.channel

    async def check(self, sender: Sender, chat: Chat) -> AccessDecision:
        """What to do with a message from `sender` in `chat`; denials are logged
        and counted, and a reply is let through at most once an hour per sender."""
        now = self.wall_clock()
        decide = functools.partial(
            decide_access, self.policy, sender, chat, now=now, draw_code=new_pairing_code
        )
        if self.policy.dm_policy is DmPolicy.ALLOWLIST:
            decision = decide(PairingBook())  # allow_from alone decides: no store to read
        else:
            book = await trio.to_thread.run_sync(self._book, limiter=self.pairing_limiter)
            decision = decide(book)
            if decision.book is not None:  # a new code: decided again under the store's lock
                decision = await trio.to_thread.run_sync(
                    self.pairing.transact, decide, limiter=self.pairing_limiter
                )
        decision = self.replies.gate(decision, trio.current_time())
        if decision.denied:
            self.health.denied += 1
            self.logger.warn(
                "ACCESS DENIED",
                channel=self.channel,
                sender_id=decision.sender_id,
                reason=decision.reason,
            )
        if decision.action is Action.REPLY_PAIRING and decision.book is not None:
            self.logger.info("pairing code issued", channel=self.channel, sender_id=sender.id)
        return decision

    def _book(self) -> PairingBook:
        return self.pairing.current()

    async def journaled(self, arrival: Arrival) -> bool:
        """Whether the journal already holds `arrival` (a redelivery): `accept`
        would leave it out. Lets a channel skip work for it (a media download)."""
        return await self.journal.holds(arrival.dedup_keys)

    async def accept(self, arrivals: Sequence[Arrival]) -> list[JournalEntry]:
        """Journal `arrivals` (one fsync); the new entries, duplicates left out."""
        if not arrivals:
            return []
        entries = [entry for entry in await self.journal.append_many(arrivals) if entry]
        self.health.messages_in += len(entries)
        self.health.journal_backlog = self.journal.backlog
        return entries

    async def dispatch(self, entries: Sequence[JournalEntry]) -> None:
        """Hand journaled messages to the session router, in order."""
        for entry in entries:
            await self.router.send(entry.message)

    async def delivered(self, message: OutboundMessage) -> None:
        """The network accepted `message`: its answered journal entries are done."""
        self.health.messages_out += 1
        if message.completes:
            await self.journal.mark_done(*message.completes)
            self.health.journal_backlog = self.journal.backlog


JOURNAL_THREADS = 1  # appends of one channel are ordered; one thread keeps them so
JOURNAL_BATCH = 16


@asynccontextmanager
async def open_channel_gate(
    *,
    policy: AccessPolicy,
    bot_dir: Path,
    router: trio.MemorySendChannel[InboundMessage],
    health: ChannelHealth,
    logger: Logger,
    wall_clock: Callable[[], float],
) -> AsyncIterator[ChannelGate]:
    """The gate of one channel incarnation: its inbound journal (damage logged,
    pending entries kept for replay) and the bot's pairing store, both closed
    when the block ends. Raises InboundJournalError for an unusable journal."""
    runner = ThreadBatcher(threads=JOURNAL_THREADS, max_batch=JOURNAL_BATCH)
    path = inbound_journal_path(bot_dir, policy.channel)
    opened = await runner(InboundJournal.open, path)
    if opened.skipped or opened.torn_bytes:
        logger.warn(
            "inbound journal repaired on open",
            channel=policy.channel,
            skipped_lines=len(opened.skipped),
            torn_bytes=opened.torn_bytes,
        )
    journal = AsyncInboundJournal(journal=opened.journal, runner=runner)
    pairing = PairingStore(bot_dir)
    try:
        health.journal_backlog = journal.backlog
        yield ChannelGate(
            policy=policy,
            pairing=pairing,
            journal=journal,
            router=router,
            health=health,
            logger=logger,
            wall_clock=wall_clock,
            pending=opened.pending,
        )
    finally:
        pairing.close()
        with trio.CancelScope(shield=True):
            await journal.close()
