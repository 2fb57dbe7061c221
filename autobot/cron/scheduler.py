"""The cron scheduler actor: fires due jobs, records their runs, follows the store.

`CronScheduler` owns the schedule's view of the store (`CronStore`, read and
written in worker threads bounded by its `CapacityLimiter`, or by an
injected `disk` runner) and the set of runs in progress; a `JobRunner` does each run (`autobot.cron.runner`:
agent turns go into the session router's mailbox, commands into the
sandbox). It never calls into another actor.

Time: job times are wall-clock seconds (`wall_clock`, injected), sleeps are
on trio's clock: to wait until wall time `w` it sleeps until
`trio.current_time() + (w - wall_clock())`. It wakes at the next fire time,
when poked (`poke`: the `cron` tool changed the store), and at least every
`STORE_POLL_SECONDS`, so that:

- a store changed by another process (`autobot cron` while the gateway runs)
  is noticed by its stamp and reloaded (a cheap stat; a reload only when it
  changed), without a restart;
- a wall-clock jump (suspend and resume, an NTP step) is noticed: at each
  wake the wall-clock progress since the last one is compared with trio's;
  when they differ by more than `CLOCK_JUMP_TOLERANCE_SECONDS`, the stored
  fire times follow the jump before anything fires
  (`rebase_after_clock_jump`): after a jump forward, what it passed over is
  due once (not once per period); after a step back, no job runs again for
  a time it already had, and none waits the step's length extra.

Runs: a job is due when the store says so (`due_jobs`); runs missed while no
gateway ran are due once at start. A run's start is written first
(`record_start`: its next fire time counted from the start), then it runs in
the actor's nursery, and its end is recorded (`record_run`: status, start
time, duration, a short error; a one-shot job removed). A job due while its
previous run goes on (its next fire time came, or someone asked to run it
now) is not started twice: that fire is skipped and counted (`record_skip`).
A job removed or disabled while it runs finishes that run; its record is
then dropped if it is gone, and it does not start again. A run is recorded
in the store before it leaves the running set, and the running set is only
trimmed before a reload, so no run starts twice from a stale view.

A corrupt or unreadable store is an ERROR record (once per version of the
file) and no job runs until it is fixed; the gateway keeps serving.

Stopping (`stopping` set): no new run starts; runs in progress may finish
within the child's shutdown grace, after which the supervisor cancels them
and each is recorded as interrupted (a shielded, bounded write), so that a
restart does not run it again as a missed run. A gateway killed outright
(`kill -9`, power loss) records nothing: at the first look the next gateway
ends the one-shot jobs it left started (`interrupted_one_shots`) as runs
that died, a WARN each, so none stays listed forever with no next run;
recurring ones already have their next fire time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import attrs
import trio

from autobot.cron.book import (
    JobBook,
    due_jobs,
    interrupted_one_shots,
    next_wakeup,
    rebase_after_clock_jump,
    record_run,
    record_skip,
    record_start,
)
from autobot.cron.jobs import AtSchedule, Job, RunRecord, RunStatus
from autobot.cron.runner import RunResult
from autobot.cron.store import CronStore, CronStoreError
from autobot.logs.records import Logger
from autobot.runtime.batching import BlockingRunner

T = TypeVar("T")

# Longest wait between two looks at the store and the clocks: how late a
# change made by `autobot cron`, or a clock jump, can be noticed.
STORE_POLL_SECONDS = 5.0
# Wall-clock and trio-clock progress between two wakes may differ this much
# before it counts as a jump (NTP slews far less; a real step or a suspend
# is far more).
CLOCK_JUMP_TOLERANCE_SECONDS = 1.0
# Threads for the store (one file, written under a lock: one at a time).
STORE_THREADS = 1
# How long a run's record may take to write once the run was cancelled.
RECORD_SECONDS = 5.0
# A wake-up carries no data and is idempotent: one pending is as good as many.
WAKE_BUFFER = 1

INTERRUPTED = RunResult(RunStatus.ERROR, "interrupted: the gateway stopped during the run")
DIED = RunResult(RunStatus.ERROR, "interrupted: the gateway died during the run")
CRASHED = RunResult(RunStatus.ERROR, "internal error while running the job")


class JobRunner(Protocol):
    """Does one run of a job (`autobot.cron.runner.GatewayRunner`); closed
    by the scheduler when it ends."""

    async def run(self, job: Job) -> RunResult: ...

    def close(self) -> None: ...


def open_wake_channel() -> tuple[trio.MemorySendChannel[None], trio.MemoryReceiveChannel[None]]:
    """The channel through which the `cron` tool wakes the scheduler (see `poke`)."""
    return trio.open_memory_channel[None](WAKE_BUFFER)


def poke(wake: trio.MemorySendChannel[None]) -> None:
    """Ask the scheduler to look at the store now (never blocks)."""
    try:
        wake.send_nowait(None)
    except trio.WouldBlock:
        pass  # a wake-up is already pending
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # no scheduler runs: it reads the store when it starts


@attrs.define(kw_only=True, eq=False)
class CronScheduler:
    """The scheduler actor (see the module docstring).

    `store_path` is the cron store; `runner` does the runs (the actor closes
    it when it ends); `wall_clock` gives seconds since the epoch;
    `default_tz` is the zone of cron expressions without their own; `wake`
    receives pokes (the actor closes it); `stopping` asks for a graceful
    stop; `poll_seconds` bounds every nap (see the module docstring).
    """

    store_path: Path
    runner: JobRunner
    wall_clock: Callable[[], float]
    default_tz: str
    logger: Logger
    wake: trio.MemoryReceiveChannel[None]
    stopping: trio.Event = attrs.field(factory=trio.Event)
    poll_seconds: float = STORE_POLL_SECONDS
    # Runs the store's blocking calls; None: worker threads bounded by
    # STORE_THREADS (`run_inline` in tests: autojump_clock jumps while a thread works).
    disk: BlockingRunner | None = None

    _limiter: trio.CapacityLimiter = attrs.field(
        init=False, factory=lambda: trio.CapacityLimiter(STORE_THREADS)
    )
    _store: CronStore | None = attrs.field(init=False, default=None)
    _book: JobBook | None = attrs.field(init=False, default=None)
    _stamp: object = attrs.field(init=False, factory=object)  # matches no stamp: load first
    _running: set[str] = attrs.field(init=False, factory=set)
    _finished: set[str] = attrs.field(init=False, factory=set)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _sleep: trio.CancelScope | None = attrs.field(init=False, default=None)
    _poked: bool = attrs.field(init=False, default=False)
    _clocks: tuple[float, float] = attrs.field(init=False, default=(0.0, 0.0))
    _swept: bool = attrs.field(init=False, default=False)  # a dead gateway's one-shots ended

    @property
    def running(self) -> frozenset[str]:
        """Ids of the jobs whose run is in progress."""
        return frozenset(self._running)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.wake:
            try:
                store = self._store = await self._in_thread(CronStore, self.store_path)
                try:
                    await self._serve(task_status)
                finally:
                    store.close()
            finally:
                self.runner.close()

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        """Look and nap until stopped; then wait for the runs in progress."""
        async with trio.open_nursery() as runs:
            self._nursery = runs
            async with trio.open_nursery() as helpers:
                helpers.start_soon(self._read_pokes)
                helpers.start_soon(self._watch_stopping)
                self._clocks = (self.wall_clock(), trio.current_time())
                task_status.started()
                while not self.stopping.is_set():
                    await self._tick()
                    await self._nap()
                helpers.cancel_scope.cancel("cron scheduler stopping")
            if self._running:
                self.logger.info("Waiting for running jobs", jobs=sorted(self._running))
        self._nursery = None

    # ---- waking ----------------------------------------------------------------------

    def _wake_up(self) -> None:
        """End the current nap now (or the next one at once)."""
        if self._sleep is not None:
            self._sleep.cancel("cron scheduler woken")
        else:
            self._poked = True

    async def _read_pokes(self) -> None:
        async for _ in self.wake:
            self._wake_up()

    async def _watch_stopping(self) -> None:
        await self.stopping.wait()
        self._wake_up()

    async def _nap(self) -> None:
        """Sleep until the next fire time, a poke, a stop or the poll period."""
        if self._poked or self.stopping.is_set():
            self._poked = False
            return
        now, clock = self.wall_clock(), trio.current_time()
        wake_at = clock + self.poll_seconds
        due = self._next_due()
        if due is not None:
            wake_at = min(wake_at, clock + max(0.0, due - now))
        with trio.CancelScope(deadline=wake_at) as self._sleep:
            await trio.sleep_forever()
        self._sleep = None

    def _next_due(self) -> float | None:
        """The earliest wall time a job is due (to run, or to count a skip)."""
        return None if self._book is None else next_wakeup(self._book)

    # ---- one look at the store and the clocks ------------------------------------------

    async def _tick(self) -> None:
        self._running -= self._finished
        self._finished.clear()
        now, clock = self.wall_clock(), trio.current_time()
        jump = self._clock_jump(now, clock)
        await self._reload()
        if self._book is None:
            return
        try:
            if not self._swept:
                await self._end_interrupted_one_shots()
            if jump is not None:
                await self._change(
                    functools.partial(
                        rebase_after_clock_jump, default_tz=self.default_tz, jump=jump
                    )
                )
            for job in due_jobs(self._book, now):
                if self.stopping.is_set():
                    break  # asked to stop while writing: start nothing more
                if job.id in self._running:
                    await self._skip(job, now)
                else:
                    await self._start(job, now)
        except (CronStoreError, OSError) as exc:
            await self._unusable(exc)

    def _clock_jump(self, now: float, clock: float) -> float | None:
        """How much more the wall clock moved than trio's since the last
        look (negative: stepped back), when that is a jump; else None."""
        last_wall, last_clock = self._clocks
        self._clocks = (now, clock)
        jump = (now - last_wall) - (clock - last_clock)
        if abs(jump) <= CLOCK_JUMP_TOLERANCE_SECONDS:
            return None
        self.logger.warn("Wall clock jumped; job times follow it", jump=f"{jump:+.0f}s")
        return jump

    async def _reload(self) -> None:
        """Load the store when its stamp changed since the last load or failure."""
        store = self._store
        assert store is not None

        def fresh(known: object) -> tuple[object, JobBook | None]:
            stamp = store.stamp()  # before the read: a write in between is seen next time
            return stamp, (None if stamp == known else store.load())

        try:
            stamp, book = await self._in_thread(fresh, self._stamp)
        except (CronStoreError, OSError) as exc:
            await self._unusable(exc)
            return
        self._stamp = stamp
        if book is not None:
            self._book = book

    async def _unusable(self, exc: Exception) -> None:
        """The store cannot be read or written: no job runs until its file
        changes (one ERROR record per failed version of it)."""
        stamp = await self._in_thread(_stamp_or_none, self._store)
        if self._book is not None or stamp != self._stamp:
            self.logger.error("Cron store unusable; no job runs until it is fixed", error=exc)
        self._book, self._stamp = None, stamp

    async def _start(self, job: Job, now: float) -> None:
        """Record the start (the job's next fire time moves past `now`), then run it."""
        await self._change(
            functools.partial(record_start, job_id=job.id, now=now, default_tz=self.default_tz)
        )
        assert self._book is not None and self._nursery is not None
        fresh = next((j for j in self._book.jobs if j.id == job.id and j.enabled), None)
        if fresh is None:
            return  # removed or disabled by another process since the last look
        self._running.add(job.id)
        self.logger.info("Cron job starting", job=job.id, owner=job.owner, name=job.name)
        self._nursery.start_soon(self._run_job, fresh, now)

    async def _end_interrupted_one_shots(self) -> None:
        """Before this gateway starts any run: record the one-shot runs a dead
        gateway started as ended (`DIED`), which removes them (module docstring)."""
        assert self._book is not None
        for job in interrupted_one_shots(self._book):
            assert isinstance(job.schedule, AtSchedule)
            await self._record(
                job, RunRecord(at=job.schedule.at, status=DIED.status, error=DIED.error)
            )
        self._swept = True

    async def _skip(self, job: Job, now: float) -> None:
        """`job` is due while its previous run goes on: count a skip."""
        await self._change(
            functools.partial(record_skip, job_id=job.id, now=now, default_tz=self.default_tz)
        )
        self.logger.warn("Cron job still running when due again; skipped", job=job.id)

    # ---- one run ---------------------------------------------------------------------

    async def _run_job(self, job: Job, started: float) -> None:
        """Run `job`, then record the run (also when cancelled: shielded, bounded)."""
        began = trio.current_time()
        result = CRASHED
        try:
            result = await self.runner.run(job)
        except trio.Cancelled:
            result = INTERRUPTED
            raise
        finally:
            record = RunRecord(
                at=started,
                status=result.status,
                error=result.error,
                duration=trio.current_time() - began,
            )
            with trio.move_on_after(RECORD_SECONDS, shield=True):
                await self._record(job, record)
            self._finished.add(job.id)
            self._wake_up()

    async def _record(self, job: Job, record: RunRecord) -> None:
        log = self.logger.warn if record.status is not RunStatus.OK else self.logger.info
        log(
            "Cron job finished",
            job=job.id,
            owner=job.owner,
            status=record.status.value,
            error=record.error or "",
            duration=f"{record.duration or 0.0:.1f}s",
        )
        try:
            await self._transact(
                functools.partial(
                    record_run,
                    job_id=job.id,
                    record=record,
                    now=self.wall_clock(),
                    default_tz=self.default_tz,
                )
            )
        except (CronStoreError, OSError) as exc:
            self.logger.error("Cron run not recorded: the store is unusable", job=job.id, error=exc)

    # ---- the store, in a worker thread -------------------------------------------------

    async def _change(self, change: Callable[[JobBook], JobBook]) -> None:
        """Apply `change` to the store and go on with the book it wrote."""
        self._book = await self._transact(change)

    async def _transact(self, change: Callable[[JobBook], JobBook]) -> JobBook:
        """Apply `change` to the store's current book under its lock; the new book."""
        store = self._store
        assert store is not None

        def apply(book: JobBook) -> tuple[JobBook, JobBook]:
            changed = change(book)
            return changed, changed

        return await self._in_thread(store.transact, apply)

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        if self.disk is not None:
            result: T = await self.disk(fn, *args)
            return result
        return await trio.to_thread.run_sync(functools.partial(fn, *args), limiter=self._limiter)


def _stamp_or_none(store: CronStore | None) -> object:
    assert store is not None
    try:
        return store.stamp()
    except (CronStoreError, OSError):
        return None
