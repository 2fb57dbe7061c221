"""Supervisor-owned mailboxes: senders survive restarts; at-most-once; closed on final stop."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from runtime_helpers import FixedRandom, Journal, echo_into, spec

from autobot.runtime import (
    BackoffPolicy,
    ChildSpec,
    Mailbox,
    MailboxUnavailable,
    RestartIntensity,
    Supervisor,
    UnknownChild,
)


def supervisor(*children: ChildSpec) -> Supervisor:
    return Supervisor(
        children=children,
        intensity=RestartIntensity(max_restarts=10, within=60.0),
        backoff=BackoffPolicy(base=1.0),
        rng=FixedRandom(0.5),
    )


async def test_the_same_sender_keeps_working_across_restarts(autojump_clock: object) -> None:
    journal, received = Journal(), list[tuple[str, int]]()
    sup = supervisor(spec("echo", journal, echo_into(received), mailbox_size=10))
    sender = sup.mailbox("echo")  # wired before the supervisor runs
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        # "boom" crashes incarnation 0 at t=0 and is lost (at-most-once); "b" was still
        # buffered, so incarnation 1 (restarted at 0.5) receives it.
        for message in ("a", "boom", "b"):
            sender.send_nowait(message)
        await trio.sleep(1)
        await sender.send("c")
        await trio.sleep(1)
        sender.close()
        sup.stop()
    assert received == [("a", 0), ("b", 1), ("c", 1)]
    assert journal.times("echo", "run") == [0.0, 0.5]
    # closing the mailbox on stop gave the child EndOfChannel: it returned at once
    assert journal.of("returned") == [(2.0, "echo", 1)]


async def test_a_stopped_child_mailbox_is_closed_to_senders(autojump_clock: object) -> None:
    journal: Journal = Journal()
    sup = supervisor(spec("quiet", journal, mailbox_size=2))
    sender = sup.mailbox("quiet")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sender.send_nowait("unread")
        assert sup.statistics().children[0].backlog == 1
        sup.stop()
    with pytest.raises(trio.BrokenResourceError):
        sender.send_nowait("late")  # buffered messages were dropped with the mailbox
    with pytest.raises(MailboxUnavailable, match="closed"):
        sup.mailbox("quiet")


def test_mailbox_lookup_errors_are_specific() -> None:
    journal = Journal()
    sup = supervisor(spec("plain", journal))
    with pytest.raises(UnknownChild, match="'nope'"):
        sup.mailbox("nope")
    with pytest.raises(MailboxUnavailable, match="no mailbox"):
        sup.mailbox("plain")


async def test_mailbox_inbox_clones_are_per_incarnation() -> None:
    mailbox = Mailbox("x", 3)
    sender = mailbox.sender()
    first: trio.MemoryReceiveChannel[Any] = mailbox.inbox()
    sender.send_nowait(1)
    sender.send_nowait(2)
    assert first.receive_nowait() == 1
    first.close()  # an incarnation ends: the mailbox and its buffer stay
    second = mailbox.inbox()
    assert second.receive_nowait() == 2
    assert mailbox.backlog == 0
    mailbox.stop_accepting()
    with pytest.raises(MailboxUnavailable):
        mailbox.sender()
    sender.close()
    with pytest.raises(trio.EndOfChannel):
        second.receive_nowait()
