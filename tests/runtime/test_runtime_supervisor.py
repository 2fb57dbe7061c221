"""Supervisor behaviour under virtual time: start-up, restarts, strategies, intensity, stop."""

from __future__ import annotations

import random

import attrs
import pytest
import trio
from runtime_helpers import (
    HALF,
    Journal,
    ScriptedActor,
    clean_up_for,
    crash_after,
    crash_before_ready,
    ignore_stop,
    return_after,
    serve,
    slow_start,
    spec,
    supervisor,
)

from autobot.runtime import (
    BackoffPolicy,
    ChildEnv,
    ChildSpec,
    ChildStartFailed,
    DuplicateChild,
    EventKind,
    Restart,
    RestartIntensity,
    Strategy,
    Supervisor,
    SupervisorEvent,
    SupervisorGaveUp,
    backoff_delay,
)

# ---- start-up ----------------------------------------------------------------------


async def test_children_start_in_order_and_stop_in_reverse(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(spec("a", journal, slow_start(1)), spec("b", journal, slow_start(2)))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert trio.current_time() == 3.0  # ready only once every child is up
        assert journal.of("run") == [(0.0, "a", 0), (1.0, "b", 0)]
        sup.stop()
    assert journal.of("returned") == [(3.0, "b", 0), (3.0, "a", 0)]


def _raising_factory(env: ChildEnv) -> ScriptedActor:
    raise LookupError("no such token")


async def _return_at_once(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
    return None


@pytest.mark.parametrize(
    ("middle", "cause"),
    [
        (spec("b", Journal(), crash_before_ready(ValueError("bad config"))), ValueError),
        (ChildSpec(id="b", factory=_raising_factory), LookupError),
        (spec("b", Journal(), _return_at_once), type(None)),
    ],
)
async def test_start_up_failure_surfaces_from_nursery_start(
    autojump_clock: object, middle: ChildSpec, cause: type
) -> None:
    journal = Journal()
    sup = supervisor(spec("a", journal), middle, spec("c", journal))
    async with trio.open_nursery() as nursery:
        with pytest.raises(ChildStartFailed) as info:
            await nursery.start(sup.run)
    assert info.value.child_id == "b"
    assert isinstance(info.value.__cause__, cause)
    assert journal.of("returned") == [(0.0, "a", 0)]  # the started child was stopped
    assert [c for _, c, _ in journal.of("run")] == ["a"]  # "c" never started


async def test_a_supervisor_runs_once_and_rejects_duplicate_ids(autojump_clock: object) -> None:
    journal = Journal()
    with pytest.raises(DuplicateChild, match="'a'"):
        supervisor(spec("a", journal), spec("a", journal))
    sup = supervisor(spec("a", journal))
    sup.stop()
    await sup.run()
    with pytest.raises(RuntimeError, match="already ran"):
        await sup.run()


# ---- restarts and backoff ----------------------------------------------------------


async def test_one_for_one_restarts_with_exact_exponential_backoff(autojump_clock: object) -> None:
    journal = Journal()
    bodies = (crash_after(0), crash_after(0), crash_after(0), serve)
    sup = supervisor(spec("a", journal, *bodies), spec("b", journal))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = sup.statistics()
        sup.stop()
    # half of the ceilings 1, 2, 4: delays 0.5, 1, 2
    assert journal.times("a", "run") == [0.0, 0.5, 1.5, 3.5]
    assert journal.times("b", "run") == [0.0]
    a, b = stats.children
    assert (a.id, a.restarts, a.running, a.last_failure) == ("a", 3, True, "ValueError('a bug')")
    assert (b.restarts, b.running, b.last_failure) == (0, True, None)
    assert stats.total_restarts == 3


async def test_backoff_delays_come_from_the_injected_seeded_random(autojump_clock: object) -> None:
    journal = Journal()
    bodies = (crash_after(0), crash_after(0), crash_after(0), serve)
    sup = supervisor(spec("a", journal, *bodies), rng=random.Random(2024))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(20)
        sup.stop()
    twin, expected, now = random.Random(2024), [0.0], 0.0
    for attempt in range(3):
        now += backoff_delay(attempt, HALF.base, HALF.cap, twin)
        expected.append(now)
    assert journal.times("a", "run") == expected


async def test_a_healthy_period_resets_the_backoff(autojump_clock: object) -> None:
    journal = Journal()
    bodies = (crash_after(1), crash_after(1), crash_after(20), serve)
    sup = supervisor(spec("a", journal, *bodies))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(30)
        sup.stop()
    # 0.5 then 1.0; after 20 s up (> healthy_after 10) back to 0.5 instead of 2.0
    assert journal.times("a", "run") == [0.0, 1.5, 3.5, 24.0]


async def test_a_failure_during_restart_start_up_is_retried(autojump_clock: object) -> None:
    journal = Journal()
    bodies = (crash_after(1), crash_before_ready(ValueError("half-configured")), serve)
    sup = supervisor(spec("a", journal, *bodies))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = sup.statistics()
        sup.stop()
    assert journal.times("a", "run") == [0.0, 1.5, 2.5]
    assert stats.children[0].running
    assert stats.children[0].last_failure == "ValueError('half-configured')"


@pytest.mark.parametrize(
    ("restart", "ending", "restarted"),
    [
        (Restart.PERMANENT, crash_after(1), True),
        (Restart.PERMANENT, return_after(1), True),
        (Restart.TRANSIENT, crash_after(1), True),
        (Restart.TRANSIENT, return_after(1), False),
        (Restart.TEMPORARY, crash_after(1), False),
        (Restart.TEMPORARY, return_after(1), False),
    ],
)
async def test_restart_types(
    autojump_clock: object, restart: Restart, ending: object, restarted: bool
) -> None:
    journal = Journal()
    sup = supervisor(spec("x", journal, ending, serve, restart=restart))  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = sup.statistics()
        sup.stop()
    assert journal.times("x", "run") == ([0.0, 1.5] if restarted else [0.0])
    assert stats.children[0].running is restarted
    assert stats.children[0].restarts == (1 if restarted else 0)


# ---- strategies --------------------------------------------------------------------


async def test_one_for_all_restarts_every_child_and_a_stop_cancel_is_no_failure(
    autojump_clock: object,
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(
        spec("a", journal),
        spec("b", journal, crash_after(1), serve),
        spec("c", journal, ignore_stop, serve, grace=2.0),
        strategy=Strategy.ONE_FOR_ALL,
        intensity=RestartIntensity(max_restarts=1, within=60.0),
        on_event=events.append,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = sup.statistics()
        sup.stop()
    # b fails at 1: c (reverse order) is asked, ignores it, is cancelled at 1 + 2 = 3,
    # then a returns; all three restart in start order at 3 + 0.5
    assert journal.of("cancelled") == [(3.0, "c", 0)]
    assert (3.0, "a", 0) in journal.of("returned")
    assert [e for e in journal.of("run") if e[0] > 0] == [
        (3.5, "a", 1),
        (3.5, "b", 1),
        (3.5, "c", 1),
    ]
    assert [(c.id, c.restarts, c.last_failure) for c in stats.children] == [
        ("a", 1, None),
        ("b", 1, "ValueError('b bug')"),
        ("c", 1, None),
    ]
    failed = [e.child_id for e in events if e.kind is EventKind.FAILED]
    assert failed == ["b"]  # the cancelled sibling is not a failure (nor did it escalate)


async def test_rest_for_one_restarts_later_siblings_only(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(
        spec("a", journal),
        spec("b", journal, crash_after(1), serve),
        spec("c", journal),
        strategy=Strategy.REST_FOR_ONE,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        stats = sup.statistics()
        sup.stop()
    assert journal.of("returned")[0] == (1.0, "c", 0)
    assert [e for e in journal.of("run") if e[0] > 0] == [(1.5, "b", 1), (1.5, "c", 1)]
    assert [c.restarts for c in stats.children] == [0, 1, 1]


async def test_one_for_one_leaves_siblings_alone(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(
        spec("a", journal), spec("b", journal, crash_after(1), serve), spec("c", journal)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        sup.stop()
    assert [e for e in journal.of("run") if e[0] > 0] == [(1.5, "b", 1)]
    assert journal.of("returned") == [(10.0, "c", 0), (10.0, "b", 1), (10.0, "a", 0)]


# ---- intensity and failure classes -------------------------------------------------


async def test_exceeding_intensity_gives_up_with_the_failures(autojump_clock: object) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(
        spec("steady", journal),
        spec("buggy", journal, crash_after(1)),
        name="root",
        intensity=RestartIntensity(max_restarts=2, within=10.0),
        backoff=BackoffPolicy(base=0.0),
        on_event=events.append,
    )
    with pytest.raises(SupervisorGaveUp) as info:
        await sup.run()
    assert trio.current_time() == 3.0  # failures at 1, 2, 3: the third exceeds 2
    gave_up = info.value
    assert gave_up.supervisor == "root"
    assert [(f.time, f.child_id, repr(f.error)) for f in gave_up.failures] == [
        (1.0, "buggy", "ValueError('buggy bug')"),
        (2.0, "buggy", "ValueError('buggy bug')"),
        (3.0, "buggy", "ValueError('buggy bug')"),
    ]
    assert gave_up.__cause__ is gave_up.failures[-1].error
    assert journal.of("returned") == [(3.0, "steady", 0)]  # stopped gracefully first
    kinds = [(e.kind, e.child_id) for e in events]
    assert kinds[-2:] == [(EventKind.GAVE_UP, "buggy"), (EventKind.STOPPED, "steady")]


async def test_failures_spread_wider_than_the_period_never_escalate(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(
        spec("a", journal, crash_after(11)),
        intensity=RestartIntensity(max_restarts=1, within=10.0),
        backoff=BackoffPolicy(base=0.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(100)
        stats = sup.statistics()
        sup.stop()
    assert journal.times("a", "raised") == [11.0 * n for n in range(1, 10)]
    assert stats.total_restarts == 9


async def test_environmental_failures_cool_down_and_do_not_escalate(autojump_clock: object) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    bodies = (
        crash_after(0, ConnectionResetError("chat network down")),
        crash_before_ready(ConnectionRefusedError("still down")),
        crash_after(0, TimeoutError()),
        serve,
    )
    sup = supervisor(
        spec("telegram", journal, *bodies),
        intensity=RestartIntensity(max_restarts=0, within=60.0),  # any local bug escalates
        on_event=events.append,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(30)
        sup.stop()
    assert journal.times("telegram", "run") == [0.0, 7.0, 14.0, 21.0]
    restarting = [(e.delay, e.environmental) for e in events if e.kind is EventKind.RESTARTING]
    assert restarting == [(7.0, True)] * 3


async def test_a_local_bug_after_environmental_failures_still_escalates(
    autojump_clock: object,
) -> None:
    journal = Journal()
    bodies = (crash_after(0, ConnectionResetError()), crash_after(0, KeyError("bug")))
    sup = supervisor(
        spec("a", journal, *bodies), intensity=RestartIntensity(max_restarts=0, within=60.0)
    )
    with pytest.raises(SupervisorGaveUp) as info:
        await sup.run()
    assert trio.current_time() == 7.0
    assert [repr(f.error) for f in info.value.failures] == ["KeyError('bug')"]


async def test_the_environmental_classifier_is_injected(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(
        spec("a", journal, crash_after(0, ConnectionResetError())),
        intensity=RestartIntensity(max_restarts=0, within=60.0),
        is_environmental=lambda error: isinstance(error, KeyError),
    )
    with pytest.raises(SupervisorGaveUp):  # no longer environmental: counts and escalates
        await sup.run()
    assert trio.current_time() == 0.0


async def test_keyboard_interrupt_in_a_child_is_never_swallowed(autojump_clock: object) -> None:
    journal = Journal()

    async def interrupted(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(1)
        raise KeyboardInterrupt

    sup = supervisor(spec("a", journal, interrupted), spec("b", journal))
    with pytest.RaisesGroup(KeyboardInterrupt, flatten_subgroups=True):
        await sup.run()
    assert journal.times("a", "run") == [0.0]  # not restarted
    assert journal.of("cancelled") == [(1.0, "b", 0)]


# ---- shutdown and cancellation -----------------------------------------------------


async def test_shutdown_is_reverse_order_and_honours_each_grace(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(
        spec("a", journal, ignore_stop, grace=2.0),
        spec("b", journal, clean_up_for(1), grace=5.0),
        spec("c", journal, ignore_stop, grace=3.0),
        spec("d", journal, clean_up_for(10), grace=4.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        sup.stop()
    # d: asked at 10, still cleaning at 14 -> cancelled; c: asked 14, cancelled 17;
    # b: asked 17, done 18; a: asked 18, cancelled 20; run() returned normally at 20
    assert journal.entries[-4:] == [
        (14.0, "d", 0, "cancelled"),
        (17.0, "c", 0, "cancelled"),
        (18.0, "b", 0, "returned"),
        (20.0, "a", 0, "cancelled"),
    ]
    assert trio.current_time() == 20.0


async def test_a_cancel_from_the_parent_reaches_every_child(autojump_clock: object) -> None:
    journal = Journal()

    def inner(env: ChildEnv) -> Supervisor:
        return supervisor(
            spec("x", journal), spec("y", journal, ignore_stop), name="inner", stopping=env.stopping
        )

    sup = supervisor(
        spec("a", journal), ChildSpec(id="inner", factory=inner), spec("b", journal, ignore_stop)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        nursery.cancel_scope.cancel("test: parent cancels")
    assert sorted(c for _, c, _ in journal.of("cancelled")) == ["a", "b", "x", "y"]
    assert {t for t, _, _ in journal.of("cancelled")} == {5.0}
    assert journal.of("returned") == [] and journal.of("raised") == []


async def test_nested_supervisors_stop_depth_first_in_reverse_order(autojump_clock: object) -> None:
    journal = Journal()

    def inner(env: ChildEnv) -> Supervisor:
        return supervisor(
            spec("x", journal), spec("y", journal), name="inner", stopping=env.stopping
        )

    sup = supervisor(spec("log", journal), ChildSpec(id="inner", factory=inner), spec("z", journal))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert [c for _, c, _ in journal.of("run")] == ["log", "x", "y", "z"]
        sup.stop()
    assert [c for _, c, _ in journal.of("returned")] == ["z", "y", "x", "log"]


async def test_a_nested_supervisor_that_gives_up_is_a_failure_of_its_parent(
    autojump_clock: object,
) -> None:
    journal = Journal()

    def inner(env: ChildEnv) -> Supervisor:
        return supervisor(
            spec("x", journal, crash_after(1)),
            name="inner",
            stopping=env.stopping,
            intensity=RestartIntensity(max_restarts=0, within=60.0),
        )

    sup = supervisor(
        ChildSpec(id="inner", factory=inner),
        name="root",
        intensity=RestartIntensity(max_restarts=1, within=60.0),
    )
    with pytest.raises(SupervisorGaveUp) as info:
        await sup.run()
    # inner gives up at 1; root restarts it at 1.5; it gives up again at 2.5
    assert journal.times("x", "run") == [0.0, 1.5]
    assert trio.current_time() == 2.5
    assert [(f.time, type(f.error)) for f in info.value.failures] == [
        (1.0, SupervisorGaveUp),
        (2.5, SupervisorGaveUp),
    ]


# ---- statistics and events ---------------------------------------------------------


async def test_statistics_are_frozen_snapshots(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(spec("a", journal, crash_after(1), serve, mailbox_size=4), spec("b", journal))
    before = sup.statistics()
    assert [(c.id, c.running, c.backlog) for c in before.children] == [
        ("a", False, 0),
        ("b", False, None),
    ]
    sender = sup.mailbox("a")
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sender.send_nowait("one")
        sender.send_nowait("two")
        await trio.sleep(5)
        during = sup.statistics()
        sup.stop()
    assert during.children[0] == attrs.evolve(
        during.children[0], restarts=1, running=True, last_failure="ValueError('a bug')", backlog=2
    )
    assert before.children[0].running is False  # an old snapshot does not change
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        during.total_restarts = 0  # type: ignore[misc]
    assert sup.statistics().children[0].running is False


async def test_events_report_the_lifecycle(autojump_clock: object) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(spec("a", journal, crash_after(1), serve), name="root", on_event=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        sup.stop()
    assert events == [
        SupervisorEvent(supervisor="root", kind=EventKind.STARTED, time=0.0, child_id="a"),
        SupervisorEvent(
            supervisor="root",
            kind=EventKind.FAILED,
            time=1.0,
            child_id="a",
            error="ValueError('a bug')",
        ),
        SupervisorEvent(
            supervisor="root", kind=EventKind.RESTARTING, time=1.0, child_id="a", delay=0.5
        ),
        SupervisorEvent(supervisor="root", kind=EventKind.STARTED, time=1.5, child_id="a"),
        SupervisorEvent(supervisor="root", kind=EventKind.STOPPED, time=5.0, child_id="a"),
    ]


async def test_one_for_all_drops_a_temporary_sibling(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(
        spec("helper", journal, restart=Restart.TEMPORARY),
        spec("b", journal, crash_after(1), serve),
        strategy=Strategy.ONE_FOR_ALL,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        stats = sup.statistics()
        sup.stop()
    assert journal.of("returned")[0] == (1.0, "helper", 0)  # stopped with the group...
    assert journal.times("helper", "run") == [0.0]  # ...but, being temporary, not restarted
    assert journal.times("b", "run") == [0.0, 1.5]
    assert [(c.id, c.running) for c in stats.children] == [("helper", False), ("b", True)]
