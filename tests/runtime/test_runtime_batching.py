"""ThreadBatcher: own results, submission order, batches, bounded workers, cancellation.

Worker threads are real; tests hold them on `threading.Event` gates and wait for
them through `trio.to_thread.run_sync(event.wait)`, never by sleeping.
"""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from autobot.runtime.batching import ThreadBatcher


class Gate:
    """A blocking call that reports it started, then waits to be released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, value: object) -> object:
        self.entered.set()
        self.release.wait()
        return value

    async def wait_entered(self) -> None:
        await trio.to_thread.run_sync(self.entered.wait)


def fails_on_odd(value: int) -> int:
    if value % 2:
        raise ValueError(f"odd {value}")
    return value * 10


async def test_every_caller_gets_its_own_result_or_exception() -> None:
    batcher = ThreadBatcher(threads=2, max_batch=3)
    outcomes: dict[int, object] = {}

    async def call(value: int) -> None:
        try:
            outcomes[value] = await batcher(fails_on_odd, value)
        except ValueError as exc:
            outcomes[value] = str(exc)

    async with trio.open_nursery() as nursery:
        for value in range(20):
            nursery.start_soon(call, value)
    assert outcomes == {v: f"odd {v}" if v % 2 else v * 10 for v in range(20)}


async def test_queued_calls_run_in_submission_order_in_shared_batches() -> None:
    batcher = ThreadBatcher(threads=1, max_batch=3)
    gate, ran, seen_on_wake = Gate(), list[str](), dict[str, int]()

    def record(name: str) -> str:
        ran.append(name)
        return name

    async def call(name: str) -> None:
        await batcher(record, name)
        seen_on_wake[name] = len(ran)

    last = Gate()

    def record_last(name: str) -> str:
        last(name)
        return record(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(batcher, gate, "held")
        await gate.wait_entered()
        for name in "abc":
            nursery.start_soon(call, name)
            await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(batcher, record_last, "d")
        await trio.testing.wait_all_tasks_blocked()
        gate.release.set()
        await last.wait_entered()
        await trio.testing.wait_all_tasks_blocked()
        # a, b and c shared one batch (max_batch=3): each caller woke once c had
        # run, without waiting for d, which is still running
        assert seen_on_wake == {"a": 3, "b": 3, "c": 3}
        last.release.set()
    assert ran == ["a", "b", "c", "d"]


async def test_at_most_threads_calls_run_at_once() -> None:
    batcher = ThreadBatcher(threads=2, max_batch=1)
    gates = [Gate() for _ in range(3)]
    async with trio.open_nursery() as nursery:
        for gate in gates:  # one at a time: trio starts tasks in no fixed order
            nursery.start_soon(batcher, gate, None)
            await trio.testing.wait_all_tasks_blocked()
        await gates[0].wait_entered()
        await gates[1].wait_entered()
        await trio.testing.wait_all_tasks_blocked()
        assert not gates[2].entered.is_set()  # queued: both workers are busy
        gates[0].release.set()
        await gates[2].wait_entered()
        gates[1].release.set()
        gates[2].release.set()


async def test_a_queued_call_is_withdrawn_when_its_caller_is_cancelled() -> None:
    batcher = ThreadBatcher(threads=1, max_batch=4)
    gate, ran = Gate(), list[str]()
    cancelled = list[bool]()

    async def caller(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            await batcher(ran.append, "withdrawn")
        cancelled.append(scope.cancelled_caught)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(batcher, gate, None)
        await gate.wait_entered()
        scope = await nursery.start(caller)
        await trio.testing.wait_all_tasks_blocked()  # queued behind the held call
        scope.cancel("test: cancelled while queued")
        await trio.testing.wait_all_tasks_blocked()
        assert cancelled == [True]
        gate.release.set()
    assert await batcher(ran.append, "later") is None
    assert ran == ["later"]


async def test_a_taken_call_runs_to_completion_and_its_caller_waits_for_it() -> None:
    batcher = ThreadBatcher(threads=1, max_batch=4)
    gate, got = Gate(), list[object]()
    async with trio.open_nursery() as nursery:

        async def caller(task_status: trio.TaskStatus[trio.CancelScope]) -> None:
            with trio.CancelScope() as scope:
                task_status.started(scope)
                got.append(await batcher(gate, "done"))
                await trio.lowlevel.checkpoint()  # the cancellation lands here
                got.append("not reached")
            got.append(scope.cancelled_caught)

        scope = await nursery.start(caller)
        await gate.wait_entered()
        scope.cancel("test: the call is already running")
        await trio.testing.wait_all_tasks_blocked()
        assert got == []  # still waiting for its running call
        gate.release.set()
    assert got == ["done", True]


async def test_an_already_cancelled_caller_runs_nothing() -> None:
    batcher, ran = ThreadBatcher(threads=1, max_batch=1), list[str]()
    with trio.CancelScope() as scope:
        scope.cancel("test")
        await batcher(ran.append, "never")
    assert ran == []


@pytest.mark.parametrize(("threads", "max_batch"), [(0, 1), (1, 0), (-1, 5)])
def test_bounds_must_be_positive(threads: int, max_batch: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        ThreadBatcher(threads=threads, max_batch=max_batch)


async def test_the_repr_never_lists_queued_calls() -> None:
    """trio names a task started on the batcher itself after its repr; with
    the queue in it, a burst of such tasks cost time quadratic in the queue."""
    batcher = ThreadBatcher(threads=1, max_batch=1)
    gate = Gate()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(batcher, gate, "held")
        await gate.wait_entered()
        for index in range(50):
            nursery.start_soon(batcher, str, index)
        await trio.testing.wait_all_tasks_blocked()
        assert repr(batcher) == "ThreadBatcher(threads=1, max_batch=1)"
        gate.release.set()
