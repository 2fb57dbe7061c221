"""Group restarts (one_for_all, rest_for_one) and children that already ended for good.

A transient child that returned, or a temporary one that ended, is retired: its
mailbox is closed and a sibling's failure never starts it again. A permanent child
that returns is restarted by its own policy, and takes its group with it.
"""

from __future__ import annotations

import pytest
import trio
from runtime_helpers import Journal, crash_after, return_after, serve, spec, supervisor

from autobot.runtime import EventKind, MailboxUnavailable, Restart, Strategy, SupervisorEvent

GROUP_STRATEGIES = [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE]


@pytest.mark.parametrize("strategy", GROUP_STRATEGIES)
@pytest.mark.parametrize("restart", [Restart.TRANSIENT, Restart.TEMPORARY])
@pytest.mark.parametrize("mailbox_size", [None, 4])
async def test_a_sibling_failure_never_restarts_a_retired_child(
    autojump_clock: object, strategy: Strategy, restart: Restart, mailbox_size: int | None
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(
        spec("a", journal),
        spec("b", journal, crash_after(5), serve),
        spec("t", journal, return_after(1), serve, restart=restart, mailbox_size=mailbox_size),
        spec("c", journal),
        strategy=strategy,
        on_event=events.append,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = {child.id: child for child in sup.statistics().children}
        sup.stop()
    assert trio.current_time() == 10.0  # a graceful stop, not a crash
    assert journal.times("t", "run") == [0.0]  # returned at 1 and stays retired
    # b fails at 5: the live members of its group stop and restart at 5 + 0.5
    group = ["a", "b", "c"] if strategy is Strategy.ONE_FOR_ALL else ["b", "c"]
    assert [entry for entry in journal.of("run") if entry[0] > 0] == [
        (5.5, child_id, 1) for child_id in group
    ]
    assert (stats["t"].running, stats["t"].restarts) == (False, 0)
    assert all(stats[child_id].running for child_id in "abc")
    assert [e.kind for e in events if e.child_id == "t"] == [EventKind.STARTED, EventKind.EXITED]
    if mailbox_size is not None:
        with pytest.raises(MailboxUnavailable, match="closed"):
            sup.mailbox("t")


@pytest.mark.parametrize("strategy", GROUP_STRATEGIES)
async def test_a_permanent_child_that_returns_restarts_its_group_but_not_a_retired_one(
    autojump_clock: object, strategy: Strategy
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(
        spec("t", journal, return_after(1), restart=Restart.TRANSIENT, mailbox_size=4),
        spec("p", journal, return_after(3), serve),
        spec("c", journal),
        strategy=strategy,
        on_event=events.append,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = sup.statistics()
        sup.stop()
    assert [entry for entry in journal.of("run") if entry[0] > 0] == [(3.5, "p", 1), (3.5, "c", 1)]
    assert [(c.id, c.running, c.restarts) for c in stats.children] == [
        ("t", False, 0),
        ("p", True, 1),
        ("c", True, 1),
    ]
    assert [(e.time, e.kind, e.child_id) for e in events if 0 < e.time < 10] == [
        (1.0, EventKind.EXITED, "t"),
        (3.0, EventKind.EXITED, "p"),
        (3.0, EventKind.STOPPED, "c"),
        (3.0, EventKind.RESTARTING, "p"),
        (3.5, EventKind.STARTED, "p"),
        (3.5, EventKind.STARTED, "c"),
    ]


async def test_a_retired_child_is_skipped_again_on_every_later_group_restart(
    autojump_clock: object,
) -> None:
    journal = Journal()
    sup = supervisor(
        spec("t", journal, return_after(1), restart=Restart.TRANSIENT, mailbox_size=4),
        spec("b", journal, crash_after(2)),
        strategy=Strategy.ONE_FOR_ALL,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(9)
        sup.stop()
    # b crashes every 2 s of uptime; its backoff doubles (0.5, 1, 2): t never runs again
    assert journal.times("b", "run") == [0.0, 2.5, 5.5]
    assert journal.times("t", "run") == [0.0]
