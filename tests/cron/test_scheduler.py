"""The cron scheduler actor under virtual time: fire times, missed runs, overlaps,
store changes by another process, removal and stop during a run, wall-clock jumps.

The runner is a fake that sleeps a scripted duration per job (virtual time)
and records when each run started; the store is the real file store, read
inline (`run_inline`) so no thread hop lets the autojump clock leap. The wall
clock is the trio clock plus an offset a test can step (`Wall.jump`).
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from autobot.cron import book
from autobot.cron.book import Limits
from autobot.cron.jobs import (
    AgentTurn,
    AtSchedule,
    Command,
    CronSchedule,
    EverySchedule,
    Job,
    RunStatus,
    Schedule,
)
from autobot.cron.runner import RunResult
from autobot.cron.scheduler import (
    INTERRUPTED,
    STORE_POLL_SECONDS,
    CronScheduler,
    open_wake_channel,
    poke,
)
from autobot.cron.store import CronStore
from autobot.logs.records import Level, LogRecord
from autobot.runtime.batching import run_inline
from autobot.testing.logs import capture_logger, drain

BASE = 1_767_225_600.0  # 2026-01-01T00:00:00Z: virtual time 0
LIMITS = Limits(min_interval=60, max_jobs_per_owner=20, default_tz="UTC")
ALICE = "telegram:1001"
BOB = "telegram:1002"


@attrs.define
class Wall:
    """The wall clock: trio's virtual time plus `offset` (a jump moves it)."""

    offset: float = BASE

    def __call__(self) -> float:
        return self.offset + trio.current_time()

    def jump(self, seconds: float) -> None:
        self.offset += seconds


@attrs.define
class FakeRunner:
    """Runs take `durations[name]` virtual seconds (0 by default) and end as
    `results[name]` (OK by default); `starts` records (name, owner, wall time)."""

    wall: Wall
    durations: dict[str, float] = attrs.field(factory=dict)
    results: dict[str, RunResult] = attrs.field(factory=dict)
    starts: list[tuple[str, str, float]] = attrs.field(factory=list)
    closed: bool = False

    async def run(self, job: Job) -> RunResult:
        self.starts.append((job.name, job.owner, self.wall()))
        await trio.sleep(self.durations.get(job.name, 0.0))
        return self.results.get(job.name, RunResult(RunStatus.OK))

    def close(self) -> None:
        self.closed = True

    def times(self, name: str) -> list[float]:
        return [at - BASE for started, _, at in self.starts if started == name]


def add_job(
    path: Path,
    name: str,
    schedule: Schedule,
    *,
    now: float,
    owner: str = ALICE,
    job_id: str | None = None,
    limits: Limits = LIMITS,
) -> Job:
    """Add a job to the store as `autobot cron add` would (another store instance)."""
    new_id = job_id or f"{zlib.crc32(name.encode()):08x}"
    with CronStore(path) as store:
        return store.transact(
            lambda jobs: book.add(
                jobs,
                owner=owner,
                name=name,
                schedule=schedule,
                action=AgentTurn(message=f"do {name}"),
                now=now,
                limits=limits,
                new_id=new_id,
            )
        )


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def stored(path: Path) -> dict[str, Job]:
    with CronStore(path) as store:
        return {job.name: job for job in store.load().jobs}


def change(path: Path, fn: object) -> None:
    """Apply `fn(book) -> (book, job)` in another store instance (the CLI)."""
    with CronStore(path) as store:
        store.transact(fn)  # type: ignore[arg-type]


@attrs.frozen
class Run:
    scheduler: CronScheduler
    runner: FakeRunner
    wall: Wall
    records: trio.MemoryReceiveChannel[LogRecord]
    wake: trio.MemorySendChannel[None]
    path: Path

    def logged(self, level: Level) -> list[str]:
        return [r.message for r in drain(self.records) if r.level is level]


@asynccontextmanager
async def scheduling(
    path: Path, runner: FakeRunner, *, default_tz: str = "UTC"
) -> AsyncIterator[Run]:
    logger, records = capture_logger("gateway")
    wake_send, wake_receive = open_wake_channel()
    scheduler = CronScheduler(
        store_path=path,
        runner=runner,
        wall_clock=runner.wall,
        default_tz=default_tz,
        logger=logger,
        wake=wake_receive,
        disk=run_inline,
    )
    with wake_send:
        async with trio.open_nursery() as nursery:
            await nursery.start(scheduler.run)
            yield Run(scheduler, runner, runner.wall, records, wake_send, path)
            scheduler.stopping.set()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cron.json"


async def test_every_and_cron_jobs_fire_at_their_exact_times(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "every", EverySchedule(seconds=90), now=BASE)
    add_job(path, "cron", CronSchedule(expr="*/2 * * * *", tz=None), now=BASE)
    add_job(path, "paris", CronSchedule(expr="0 1 * * *", tz="Europe/Paris"), now=BASE)
    runner = FakeRunner(Wall())
    async with scheduling(path, runner):
        await trio.sleep(3601)
    assert runner.times("every") == [90.0 * k for k in range(1, 41)]
    assert runner.times("cron") == [120.0 * k for k in range(1, 31)]
    assert runner.times("paris") == []  # 01:00 in Paris is 00:00 UTC: a day away
    jobs = stored(path)
    assert jobs["every"].runs == 40 and jobs["every"].next_run_at == BASE + 41 * 90
    assert jobs["every"].last_run is not None
    assert jobs["every"].last_run.at == BASE + 3600 and jobs["every"].last_run.duration == 0


async def test_a_paris_job_fires_by_the_paris_wall_clock(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    new_york = attrs.evolve(LIMITS, default_tz="America/New_York")
    for name, tz in (("paris", "Europe/Paris"), ("default zone", None)):
        add_job(path, name, CronSchedule(expr="30 9 * * *", tz=tz), now=BASE, limits=new_york)
    runner = FakeRunner(Wall())
    async with scheduling(path, runner, default_tz="America/New_York"):
        await trio.sleep(86400)
    assert runner.times("paris") == [8 * 3600 + 1800]  # 09:30 CET = 08:30 UTC
    assert runner.times("default zone") == [14 * 3600 + 1800]  # 09:30 EST = 14:30 UTC


async def test_runs_missed_while_down_fire_once_at_start(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "hourly", EverySchedule(seconds=3600), now=BASE - 10 * 86400)
    add_job(path, "once", AtSchedule(at=BASE - 3600), now=BASE - 7200)
    runner = FakeRunner(Wall())
    async with scheduling(path, runner):
        await trio.sleep(3601)
    assert runner.times("hourly") == [0.0, 3600.0]  # once for ten missed days, then hourly
    assert runner.times("once") == [0.0]
    jobs = stored(path)
    assert "once" not in jobs  # a one-shot is removed after its run
    assert jobs["hourly"].runs == 2 and jobs["hourly"].skipped == 0


async def test_a_job_still_running_when_due_again_is_skipped_and_counted(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "slow", EverySchedule(seconds=60), now=BASE)
    runner = FakeRunner(Wall(), durations={"slow": 150.0})
    async with scheduling(path, runner):
        await trio.sleep(299)
        # due at 120 and 180 while the first run went on (60 to 210): skipped
        assert runner.times("slow") == [60.0, 240.0]
        assert stored(path)["slow"].skipped == 2
    job = stored(path)["slow"]  # the stop waited for the second run (until 390)
    assert (job.skipped, job.runs) == (2, 2)
    assert job.last_run is not None
    assert (job.last_run.at, job.last_run.duration) == (BASE + 240, 150.0)


async def test_run_now_of_a_running_job_is_a_counted_skip(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    job = add_job(path, "slow", EverySchedule(seconds=600), now=BASE)
    runner = FakeRunner(Wall(), durations={"slow": 100.0})
    async with scheduling(path, runner) as run:
        await trio.sleep(650)  # running since 600
        change(path, lambda jobs: book.run_now(jobs, ALICE, job.id, run.wall()))
        poke(run.wake)
        await trio.sleep(1)
        assert stored(path)["slow"].skipped == 1
        await trio.sleep(100)
        assert runner.times("slow") == [600.0]
        change(path, lambda jobs: book.run_now(jobs, ALICE, job.id, run.wall()))
        poke(run.wake)
        await trio.sleep(0.5)
    assert runner.times("slow") == [600.0, 751.0]  # not running any more: starts at once


async def test_a_change_by_another_process_is_picked_up_without_a_restart(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    runner = FakeRunner(Wall())
    async with scheduling(path, runner) as run:
        await trio.sleep(12.5)
        new = add_job(path, "added", EverySchedule(seconds=60), now=run.wall())  # no poke
        await trio.sleep(201)  # the poll at 15 reads it
        assert runner.times("added") == [72.5, 132.5, 192.5]
        change(path, lambda jobs: book.set_enabled(jobs, None, new.id, False, run.wall(), LIMITS))
        await trio.sleep(200)
        assert runner.times("added") == [72.5, 132.5, 192.5]
        change(path, lambda jobs: book.set_enabled(jobs, None, new.id, True, run.wall(), LIMITS))
        await trio.sleep(61)
    assert runner.times("added") == [72.5, 132.5, 192.5, 473.5]


async def test_a_poke_makes_a_job_added_in_process_fire_at_its_exact_time(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    runner = FakeRunner(Wall())
    async with scheduling(path, runner) as run:
        await trio.sleep(1)
        add_job(path, "soon", AtSchedule(at=run.wall() + 2.5), now=run.wall())
        poke(run.wake)
        await trio.sleep(10)
    assert runner.times("soon") == [3.5]


async def test_each_job_runs_for_its_own_owner(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "alice's", EverySchedule(seconds=60), now=BASE, owner=ALICE)
    add_job(path, "bob's", EverySchedule(seconds=90), now=BASE, owner=BOB)
    runner = FakeRunner(Wall())
    async with scheduling(path, runner):
        await trio.sleep(181)
    assert sorted((at - BASE, name, owner) for name, owner, at in runner.starts) == [
        (60.0, "alice's", ALICE),
        (90.0, "bob's", BOB),
        (120.0, "alice's", ALICE),
        (180.0, "alice's", ALICE),
        (180.0, "bob's", BOB),
    ]


async def test_a_job_removed_while_it_runs_finishes_and_never_runs_again(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    job = add_job(path, "doomed", EverySchedule(seconds=60), now=BASE)
    runner = FakeRunner(Wall(), durations={"doomed": 30.0})
    async with scheduling(path, runner) as run:
        await trio.sleep(70)
        change(path, lambda jobs: book.remove(jobs, None, job.id))
        await trio.sleep(300)
        assert run.scheduler.running == frozenset()
    assert runner.times("doomed") == [60.0]
    assert stored(path) == {}


async def test_a_stop_lets_a_short_run_finish_and_records_a_cancelled_one_as_interrupted(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "short", EverySchedule(seconds=60), now=BASE)
    add_job(path, "long", EverySchedule(seconds=60), now=BASE)
    runner = FakeRunner(Wall(), durations={"short": 5.0, "long": 500.0})
    with trio.CancelScope() as supervisor:
        async with scheduling(path, runner) as run:
            await trio.sleep(61)
            run.scheduler.stopping.set()  # what the supervisor does first...
            await trio.sleep(10)  # ...then, after the child's grace...
            supervisor.cancel("grace over")  # ...it cancels
    jobs = stored(path)
    assert jobs["short"].last_run is not None and jobs["short"].last_run.status is RunStatus.OK
    long = jobs["long"]
    assert long.last_run is not None
    assert (long.last_run.status, long.last_run.error) == (INTERRUPTED.status, INTERRUPTED.error)
    assert long.last_run.at == BASE + 60 and long.last_run.duration == 11
    # its start was recorded: a restart does not run it again as a missed run
    assert long.next_run_at == BASE + 120
    assert runner.times("long") == [60.0]


async def test_a_wall_clock_jump_forward_fires_what_it_passed_once(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "hourly", EverySchedule(seconds=3600), now=BASE)
    runner = FakeRunner(Wall())
    async with scheduling(path, runner) as run:
        await trio.sleep(102)
        run.wall.jump(5 * 3600)  # a suspend of five hours, noticed by the poll at 105
        await trio.sleep(STORE_POLL_SECONDS)
        assert runner.times("hourly") == [5 * 3600 + 105.0]  # once, not five times
        warnings = run.logged(Level.WARN)
    assert "Wall clock jumped; job times follow it" in warnings
    assert stored(path)["hourly"].next_run_at == BASE + 6 * 3600 + 105


async def test_a_wall_clock_stepped_back_moves_every_jobs_with_it(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "every", EverySchedule(seconds=600), now=BASE)
    add_job(path, "hourly", CronSchedule(expr="0 * * * *", tz=None), now=BASE)
    runner = FakeRunner(Wall())
    async with scheduling(path, runner) as run:
        await trio.sleep(102)
        run.wall.jump(-1800)  # NTP steps back half an hour, noticed by the poll at 105
        await trio.sleep(5400)
    # trio time = wall - BASE + 1800 after the step: `every` still waits the 498 s
    # it had left (first fire at trio time 600, not 2400), then every 600 s
    assert runner.times("every") == [600.0 * k - 1800 for k in range(1, 10)]
    # the hourly job keeps to the wall clock: 01:00 (trio time 5400), 00:00 not again
    assert runner.times("hourly") == [3600.0]


async def test_a_corrupt_store_runs_nothing_until_fixed(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    add_job(path, "every", EverySchedule(seconds=60), now=BASE)
    good = read(path)
    write(path, b"{not json")
    runner = FakeRunner(Wall())
    async with scheduling(path, runner) as run:
        await trio.sleep(101)
        assert runner.starts == []
        assert run.logged(Level.ERROR) == ["Cron store unusable; no job runs until it is fixed"]
        await trio.sleep(101)
        assert run.logged(Level.ERROR) == []  # said once per version of the file
        write(path, good)
        await trio.sleep(STORE_POLL_SECONDS)
    assert runner.times("every") == [205.0]  # read at the poll at 205; missed runs: once
    assert read(path) != good  # its run was recorded


async def test_a_command_job_and_an_error_are_recorded(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with CronStore(path) as store:
        store.transact(
            lambda jobs: book.add(
                jobs,
                owner=ALICE,
                name="df",
                schedule=EverySchedule(seconds=60),
                action=Command(command="df -h"),
                now=BASE,
                limits=LIMITS,
                new_id="0000abcd",
            )
        )
    runner = FakeRunner(
        Wall(), durations={"df": 2.0}, results={"df": RunResult.failed("exit code 1")}
    )
    async with scheduling(path, runner):
        await trio.sleep(63)
    job = stored(path)["df"]
    assert job.last_run is not None
    assert (job.last_run.status, job.last_run.error, job.last_run.duration) == (
        RunStatus.ERROR,
        "exit code 1",
        2.0,
    )


async def test_a_one_shot_left_started_by_a_killed_gateway_is_ended_not_listed_forever(
    path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    soon = add_job(path, "soon", AtSchedule(at=BASE + 60), now=BASE)
    add_job(path, "later", AtSchedule(at=BASE + 600), now=BASE)
    add_job(path, "every", EverySchedule(seconds=60), now=BASE)
    # What a gateway killed with -9 during the runs leaves: their starts, no end.
    for job in (soon, stored(path)["every"]):  # as the killed gateway's scheduler wrote them
        change(
            path, lambda jobs, job=job: (book.record_start(jobs, job.id, BASE + 60, "UTC"), None)
        )
    runner = FakeRunner(Wall(offset=BASE + 100))
    async with scheduling(path, runner) as run:
        await trio.sleep(1)
        assert set(stored(path)) == {"later", "every"}  # the one-shot that died is gone
        [warning] = [r for r in drain(run.records) if r.level is Level.WARN]
        fields = dict(warning.fields)
        assert (warning.message, fields["job"]) == ("Cron job finished", soon.id)
        assert fields["error"] == "interrupted: the gateway died during the run"
        await trio.sleep(600)
    assert runner.times("soon") == []  # never run twice
    assert runner.times("later") == [600.0]  # the other one-shot runs as planned
    assert runner.times("every")[0] == 120.0  # the next fire time it had was kept
