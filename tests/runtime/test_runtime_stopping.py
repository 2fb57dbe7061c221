"""A graceful stop at awkward moments: during a start-up, a backoff, or a failure.

Whatever the supervisor is doing, a stop request is honoured within the grace of the
child it is waiting for; the stop is never a failure and nothing restarts afterwards.
"""

from __future__ import annotations

import pytest
import trio
from runtime_helpers import (
    Body,
    Journal,
    crash_after,
    fail_start_when_stopped,
    give_up_start_when_stopped,
    never_ready,
    ready_after_stop,
    serve,
    spec,
    stop_at,
    supervisor,
)

from autobot.runtime import (
    BackoffPolicy,
    ChildEnv,
    ChildSpec,
    EventKind,
    RestartIntensity,
    Supervisor,
    SupervisorEvent,
)

GRACE = 3.0
# How each start-up reacts to a stop at t=5, and when the supervisor returns.
REACTIONS = [
    pytest.param(never_ready, 5.0 + GRACE, id="cancelled-after-grace"),
    pytest.param(give_up_start_when_stopped, 5.0, id="returns-when-asked"),
    pytest.param(fail_start_when_stopped, 5.0, id="raises-when-asked"),
]


def _hanging(child_id: str, journal: Journal, start_up: Body, *, restart: bool) -> ChildSpec:
    """A child whose first start-up (or, with `restart`, its restart after a crash at 1) hangs."""
    bodies = (crash_after(1), start_up) if restart else (start_up,)
    return spec(child_id, journal, *bodies, grace=GRACE)


def _kinds(events: list[SupervisorEvent]) -> list[tuple[float, EventKind, str | None]]:
    return [(e.time, e.kind, e.child_id) for e in events]


@pytest.mark.parametrize(("start_up", "returns_at"), REACTIONS)
async def test_a_stop_during_the_first_start_up_stops_the_starting_child(
    autojump_clock: object, start_up: Body, returns_at: float
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(
        spec("a", journal),
        _hanging("b", journal, start_up, restart=False),
        spec("c", journal),
        on_event=events.append,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_at, sup, 5.0)
        with trio.fail_after(100):
            await nursery.start(sup.run)  # ready (then stopping): no ChildStartFailed
    assert trio.current_time() == returns_at
    assert [c for _, c, _ in journal.of("run")] == ["a", "b"]  # c never starts
    assert journal.of("returned")[-1] == (returns_at, "a", 0)  # then a shuts down
    assert _kinds(events) == [
        (0.0, EventKind.STARTED, "a"),
        (returns_at, EventKind.STOPPED, "b"),
        (returns_at, EventKind.STOPPED, "a"),
    ]
    assert not any(child.running for child in sup.statistics().children)


@pytest.mark.parametrize(("start_up", "returns_at"), REACTIONS)
async def test_a_stop_during_a_restart_start_up_stops_the_starting_child(
    autojump_clock: object, start_up: Body, returns_at: float
) -> None:
    journal, events = Journal(), list[SupervisorEvent]()
    sup = supervisor(
        spec("a", journal),
        _hanging("b", journal, start_up, restart=True),
        on_event=events.append,
        intensity=RestartIntensity(max_restarts=1, within=60.0),  # one more failure: give up
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_at, sup, 5.0)
        with trio.fail_after(100):
            await sup.run()  # returns normally: the stop is no failure, nor a give-up
    assert trio.current_time() == returns_at
    assert journal.times("b", "run") == [0.0, 1.5]  # crashed at 1, restart hangs; no more
    assert _kinds(events)[-3:] == [
        (1.0, EventKind.RESTARTING, "b"),
        (returns_at, EventKind.STOPPED, "b"),
        (returns_at, EventKind.STOPPED, "a"),
    ]
    assert [e.child_id for e in events if e.kind is EventKind.FAILED] == ["b"]  # only at 1
    assert sup.statistics().children[1].restarts == 1


async def test_the_grace_counts_from_the_stop_even_if_the_child_gets_ready_during_it(
    autojump_clock: object,
) -> None:
    journal = Journal()
    sup = supervisor(spec("a", journal, ready_after_stop(1.0), grace=GRACE))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_at, sup, 5.0)
        with trio.fail_after(100):
            await nursery.start(sup.run)
        assert trio.current_time() == 6.0  # ready 1 s after the stop
    # asked at 5, ready at 6 but still ignoring the request: cancelled at 5 + 3, not 6 + 3
    assert journal.of("cancelled") == [(8.0, "a", 0)]
    assert trio.current_time() == 8.0


async def test_a_stop_requested_before_run_starts_nothing(autojump_clock: object) -> None:
    journal = Journal()
    sup = supervisor(spec("a", journal), spec("b", journal))
    sup.stop()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
    assert journal.entries == []
    assert trio.current_time() == 0.0


@pytest.mark.parametrize(
    ("error", "backoff"),
    [
        pytest.param(ValueError("bug"), BackoffPolicy(base=20.0), id="backoff"),
        pytest.param(ConnectionError("down"), BackoffPolicy(cooldown=30.0), id="cool-down"),
    ],
)
async def test_a_stop_during_a_backoff_returns_at_once_and_restarts_nothing(
    autojump_clock: object, error: Exception, backoff: BackoffPolicy
) -> None:
    journal = Journal()
    sup = supervisor(spec("a", journal, crash_after(1, error), serve), backoff=backoff)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_at, sup, 5.0)
        await sup.run()  # crashed at 1; the restart would be due at 11 (backoff) or 31
    assert trio.current_time() == 5.0
    assert journal.times("a", "run") == [0.0]
    assert sup.statistics().children[0].running is False


async def test_a_failure_seen_while_stopping_neither_restarts_nor_escalates(
    autojump_clock: object,
) -> None:
    journal, events, supervisors = Journal(), list[SupervisorEvent](), list[Supervisor]()

    async def stop_then_crash(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(5)
        supervisors[0].stop()  # the stop is requested, then the crash is reported first
        raise ValueError("crashed during the stop")

    sup = supervisor(
        spec("a", journal),
        spec("b", journal, stop_then_crash),
        intensity=RestartIntensity(max_restarts=0, within=60.0),  # any counted failure escalates
        on_event=events.append,
    )
    supervisors.append(sup)
    await sup.run()  # returns normally
    assert trio.current_time() == 5.0
    assert journal.times("b", "run") == [0.0]
    assert _kinds(events)[2:] == [
        (5.0, EventKind.FAILED, "b"),
        (5.0, EventKind.STOPPED, "a"),
    ]
    assert sup.statistics().children[1].last_failure == "ValueError('crashed during the stop')"


async def test_a_stop_reaches_a_start_up_hanging_inside_a_nested_supervisor(
    autojump_clock: object,
) -> None:
    journal = Journal()

    def inner(env: ChildEnv) -> Supervisor:
        hanging = spec("x", journal, never_ready, grace=2.0)
        return supervisor(spec("w", journal), hanging, name="inner", stopping=env.stopping)

    sup = supervisor(spec("log", journal), ChildSpec(id="inner", factory=inner, shutdown_grace=9))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_at, sup, 5.0)
        with trio.fail_after(100):
            await sup.run()
    # the inner supervisor passes the stop on to x, cancels it after x's own 2 s grace,
    # stops w, and returns well within its 9 s; then log stops
    assert trio.current_time() == 7.0
    assert journal.of("cancelled") == [(7.0, "x", 0)]
    assert journal.of("returned") == [(7.0, "w", 0), (7.0, "log", 0)]
