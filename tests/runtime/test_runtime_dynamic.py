"""DynamicSupervisor: children on demand, isolated from each other."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from runtime_helpers import (
    FixedRandom,
    Journal,
    crash_after,
    crash_before_ready,
    ignore_stop,
    never_ready,
    serve,
    spec,
    stop_at,
)

from autobot.runtime import (
    BackoffPolicy,
    ChildEnv,
    ChildStartFailed,
    DuplicateChild,
    DynamicSupervisor,
    EventKind,
    OnEvent,
    Restart,
    RestartIntensity,
    SupervisorEvent,
    SupervisorNotRunning,
    UnknownChild,
    ignore_event,
)

TEMPORARY, TRANSIENT = Restart.TEMPORARY, Restart.TRANSIENT


def router(on_event: OnEvent = ignore_event) -> DynamicSupervisor:
    return DynamicSupervisor(
        on_event=on_event,
        name="router",
        intensity=RestartIntensity(max_restarts=10, within=60.0),
        backoff=BackoffPolicy(base=1.0),
        rng=FixedRandom(0.5),
    )


async def test_a_crash_in_one_child_never_touches_another(autojump_clock: object) -> None:
    journal = Journal()
    sup = router()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("s1", journal, restart=TEMPORARY))
        await sup.start_child(spec("s2", journal, crash_after(2), restart=TEMPORARY))
        await sup.start_child(spec("s3", journal, crash_after(2), serve, restart=TRANSIENT))
        await trio.sleep(5)
        assert sup.which_children() == ("s1", "s3")  # the crashed temporary is forgotten
        stats = {c.id: c for c in sup.statistics().children}
        sup.stop()
    assert journal.times("s1", "run") == [0.0]
    assert journal.times("s3", "run") == [0.0, 2.5]  # transient: restarted after its error
    assert stats["s1"].running and stats["s1"].restarts == 0
    assert stats["s3"].restarts == 1
    assert journal.of("cancelled") == []


async def test_start_and_stop_on_demand(autojump_clock: object) -> None:
    journal = Journal()
    sup = router()
    with pytest.raises(SupervisorNotRunning):
        await sup.start_child(spec("early", journal))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("a", journal, restart=TEMPORARY))
        await sup.start_child(spec("b", journal, ignore_stop, restart=TEMPORARY, grace=2.0))
        with pytest.raises(DuplicateChild):
            await sup.start_child(spec("a", journal))
        await trio.sleep(1)
        await sup.stop_child("b")
        assert trio.current_time() == 3.0  # asked at 1, cancelled after its 2 s grace
        assert sup.which_children() == ("a",)
        with pytest.raises(UnknownChild):
            await sup.stop_child("b")
        await sup.start_child(spec("b", journal, restart=TEMPORARY))  # the id is free again
        sup.stop()
    assert journal.of("cancelled") == [(3.0, "b", 0)]
    assert journal.of("returned") == [(3.0, "b", 0), (3.0, "a", 0)]  # reverse start order
    with pytest.raises(SupervisorNotRunning):
        await sup.start_child(spec("late", journal))


async def test_a_start_up_failure_leaves_nothing_behind(autojump_clock: object) -> None:
    journal = Journal()
    sup = router()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("ok", journal, restart=TEMPORARY))
        bad = spec("bad", journal, crash_before_ready(PermissionError("denied")), mailbox_size=1)
        with pytest.raises(ChildStartFailed) as info:
            await sup.start_child(bad)
        assert isinstance(info.value.__cause__, PermissionError)
        assert sup.which_children() == ("ok",)
        with pytest.raises(UnknownChild):
            sup.mailbox("bad")
        await sup.start_child(spec("bad", journal, restart=TEMPORARY))  # id reusable
        sup.stop()
    assert journal.times("ok", "returned") == [0.0]


async def test_a_caller_cancelled_during_start_leaves_nothing_behind(
    autojump_clock: object,
) -> None:
    journal = Journal()
    sup = router()

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with trio.move_on_after(1):
            await sup.start_child(spec("slow", journal, never_ready))
        assert sup.which_children() == ()
        sup.stop()
    assert journal.of("cancelled") == [(1.0, "slow", 0)]


async def test_dynamic_children_have_mailboxes(autojump_clock: object) -> None:
    journal, received = Journal(), []

    async def collect(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        inbox = env.inbox
        assert inbox is not None
        task_status.started()
        async for message in inbox:
            received.append(message)

    sup = router()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("s", journal, collect, restart=TEMPORARY, mailbox_size=4))
        with sup.mailbox("s") as sender:
            await sender.send("hello")
        await trio.sleep(1)
        sup.stop()
    assert received == ["hello"]


async def test_stopping_a_child_while_it_restarts_is_not_a_failure(autojump_clock: object) -> None:
    journal = Journal()
    sup = DynamicSupervisor(
        name="router",
        intensity=RestartIntensity(max_restarts=1, within=60.0),  # one more failure: give up
        backoff=BackoffPolicy(base=1.0),
        rng=FixedRandom(0.5),
    )

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("s", journal, crash_after(1), never_ready, grace=1.0))
        await trio.sleep(1)  # crashed at 1; restart starting at 1.5 never becomes ready
        await trio.sleep(1)
        await sup.stop_child("s")
        assert trio.current_time() == 3.0  # asked at 2, cancelled after its 1 s grace
        assert sup.which_children() == ()
        await trio.sleep(10)  # no escalation, no further restart
        sup.stop()
    assert journal.times("s", "run") == [0.0, 1.5]
    assert journal.of("cancelled") == [(3.0, "s", 1)]


async def test_a_stop_during_a_restart_start_up_returns_after_the_grace(
    autojump_clock: object,
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = router(on_event=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("s", journal, crash_after(1), never_ready, grace=2.0))
        nursery.start_soon(stop_at, sup, 5.0)  # the restart began at 1.5 and hangs
        nursery.cancel_scope.deadline = 100.0  # (before the fix: hung here)
    assert trio.current_time() == 7.0  # asked at 5, cancelled after its 2 s grace
    assert journal.times("s", "run") == [0.0, 1.5]
    assert journal.of("cancelled") == [(7.0, "s", 1)]
    assert [(e.time, e.kind) for e in events][-2:] == [
        (1.0, EventKind.RESTARTING),
        (7.0, EventKind.STOPPED),
    ]


async def test_a_stop_while_start_child_waits_fails_that_start_once(
    autojump_clock: object,
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = router(on_event=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        nursery.start_soon(stop_at, sup, 5.0)
        with pytest.raises(ChildStartFailed):
            await sup.start_child(spec("s", journal, never_ready, grace=2.0))
        assert trio.current_time() == 7.0
    assert trio.current_time() == 7.0
    assert [(e.time, e.kind, e.child_id) for e in events] == [(7.0, EventKind.STOPPED, "s")]


async def test_a_starting_child_is_stopped_at_the_request_not_after_its_siblings(
    autojump_clock: object,
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = router(on_event=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)

        failed_at = list[float]()

        async def start_hanging() -> None:
            with pytest.raises(ChildStartFailed):
                await sup.start_child(spec("starting", journal, never_ready, grace=2.0))
            failed_at.append(trio.current_time())

        nursery.start_soon(start_hanging)
        await trio.testing.wait_all_tasks_blocked()
        # started after "starting", so stopped before it in reverse start order
        await sup.start_child(spec("slow", journal, ignore_stop, grace=5.0))
        nursery.start_soon(stop_at, sup, 1.0)
    # the hanging start-up got its own grace from the stop request (1 + 2), while
    # the ordered shutdown was still waiting for "slow" (1 + 5)
    assert failed_at == [3.0]
    assert journal.of("cancelled") == [(3.0, "starting", 0), (6.0, "slow", 0)]
    assert [(e.time, e.kind, e.child_id) for e in events] == [
        (0.0, EventKind.STARTED, "slow"),
        (3.0, EventKind.STOPPED, "starting"),
        (6.0, EventKind.STOPPED, "slow"),
    ]


async def test_concurrent_stop_child_calls_share_one_deadline_and_one_event(
    autojump_clock: object,
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = router(on_event=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await sup.start_child(spec("s", journal, ignore_stop, grace=4.0))
        async with trio.open_nursery() as stoppers:
            stoppers.start_soon(sup.stop_child, "s")
            await trio.sleep(1)
            stoppers.start_soon(sup.stop_child, "s")  # does not extend the 4 s grace
        assert trio.current_time() == 4.0
        sup.stop()
    assert journal.of("cancelled") == [(4.0, "s", 0)]
    assert [(e.time, e.kind) for e in events] == [
        (0.0, EventKind.STARTED),
        (4.0, EventKind.STOPPED),
    ]
