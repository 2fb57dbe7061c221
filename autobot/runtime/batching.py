"""`ThreadBatcher`: blocking calls from many tasks, run by a few shared worker threads.

`await batcher(fn, *args)` returns `fn(*args)` (or raises what it raised), run
in a worker thread like `trio.to_thread.run_sync`. The difference is the cost
on the event loop under a burst. `to_thread.run_sync` with a limiter of N hands
threads out one call at a time, and only the event loop can hand out the next
one: when the loop is busy (a burst of sessions starting), N calls progress per
scheduler pass however idle the threads are. Here at most `threads` workers
take queued calls themselves, up to `max_batch` at a time, and run them one
after the other; each batch's results reach the event loop in one callback
(`TrioToken.run_sync_soon`), which wakes the callers. So N calls cost about
N / max_batch wake-ups of the loop, and threads never wait for it.

Guarantees, as for `to_thread.run_sync` without `abandon_on_cancel`:
- a caller is woken only once its own call has run, with its own result or
  exception (one call's failure never touches another's);
- a call still queued when its caller is cancelled is withdrawn and never
  runs; once a worker has taken it, it runs to completion and the caller waits
  for it (the cancellation is delivered at the caller's next checkpoint);
- calls are taken in submission order (two calls of one task never overlap:
  the task awaits each one).

House-style note: workers are started with `trio.lowlevel.start_thread_soon`
(the primitive under `to_thread.run_sync`) because a worker outlives the call
that started it; `threads` is the named bound a `CapacityLimiter` would give.
Calls run in the worker's context, not a copy of the caller's contextvars.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import outcome
import trio


class BlockingRunner(Protocol):
    """Runs a blocking call off the event loop: `await runner(fn, *args)`
    returns `fn(*args)`. A `ThreadBatcher` in production; `run_inline` in
    deterministic tests."""

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any: ...


async def run_inline(fn: Callable[..., Any], *args: Any) -> Any:
    """Runner for deterministic tests (autojump_clock jumps while a thread works)
    and benchmarks of the actor overhead: calls `fn` in the event loop."""
    return fn(*args)


@attrs.define(eq=False, slots=True)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    task: trio.lowlevel.Task


def _deliver(batch: list[_Call], results: list[outcome.Outcome[Any]]) -> None:
    """In the event loop: wake every caller of `batch` with its own outcome."""
    for call, result in zip(batch, results, strict=True):
        trio.lowlevel.reschedule(call.task, result)


@attrs.define(eq=False)
class ThreadBatcher:
    """At most `threads` workers running queued calls, up to `max_batch` per
    batch (see the module docstring). Raises ValueError on a non-positive
    `threads` or `max_batch`. Shared by every task of one `trio.run`."""

    threads: int
    max_batch: int
    # Not in the repr: trio names a task after its function, and a task
    # started on the batcher itself would otherwise repr every queued call.
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _queue: collections.deque[_Call] = attrs.field(
        init=False, factory=collections.deque, repr=False
    )
    _workers: int = attrs.field(init=False, default=0, repr=False)  # guarded by _lock

    def __attrs_post_init__(self) -> None:
        if self.threads < 1 or self.max_batch < 1:
            raise ValueError(f"threads and max_batch must be >= 1, got {self!r}")

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        await trio.lowlevel.checkpoint_if_cancelled()
        call = _Call(fn=fn, args=args, task=trio.lowlevel.current_task())
        with self._lock:
            self._queue.append(call)
            start = self._workers < self.threads
            if start:
                self._workers += 1
        if start:
            token = trio.lowlevel.current_trio_token()
            trio.lowlevel.start_thread_soon(lambda: self._work(token), _worker_ended)

        def abort(_: object) -> trio.lowlevel.Abort:
            with self._lock:
                try:
                    self._queue.remove(call)  # not taken yet: withdrawn, never runs
                except ValueError:
                    return trio.lowlevel.Abort.FAILED  # taken: its batch wakes us
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)

    def _work(self, token: trio.lowlevel.TrioToken) -> None:
        """A worker thread: run batches until the queue is empty, then end."""
        while True:
            with self._lock:
                if not self._queue:
                    self._workers -= 1
                    return
                size = min(self.max_batch, len(self._queue))
                batch = [self._queue.popleft() for _ in range(size)]
            results = [outcome.capture(call.fn, *call.args) for call in batch]
            token.run_sync_soon(_deliver, batch, results)


def _worker_ended(result: outcome.Outcome[None]) -> None:
    """A worker's own code never raises (each call's outcome is captured)."""
    result.unwrap()
