"""The jobs of one bot and everything done to them (pure).

A `JobBook` is an immutable tuple of jobs; every operation is a function of
the book, its arguments and `now` (wall-clock seconds since the epoch,
injected: the store is shared by the gateway and the CLI) and returns a new
book. Reading and writing the file is `autobot.cron.store`'s job, deciding
when to run is the scheduler's.

Isolation: the owner-scoped operations (`list_jobs`, `get`, `update`,
`set_enabled`, `run_now`, `remove`) take the caller's `owner`
(`channel:chat_id`) and see only that owner's jobs; `owner=None` is the
operator, who sees all. A well-formed id of another owner's job raises
exactly the `JobNotFound` of a missing id (same type, same message), so
nobody can learn whether someone else's job exists.

Runs (`due_jobs`, `record_start`, `record_run`, `record_skip`): a job is due
once its `next_run_at` is at or before `now`, however long ago that was; when
a run starts its next fire time is computed from `now`, not from the time it
was due. So runs missed while the gateway was down fire once at start, not
once per missed period, and a run still going when the job is due again makes
that fire time a skip (`record_skip`), never a second concurrent run.

Raises `CronError` (user-facing, nothing changed) and `JobNotFound`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

import attrs

from autobot.cron.jobs import (
    Action,
    AgentTurn,
    AtSchedule,
    Command,
    CronError,
    CronSchedule,
    EverySchedule,
    Job,
    JobNotFound,
    RunRecord,
    Schedule,
    check_job_id,
    parse_owner,
)
from autobot.cron.schedule import check_schedule, next_fire

BOOK_VERSION = 1  # the version of the job format (the store file's "version")
_MAX_ID_DRAWS = 100  # ids are 32 bits: a hundred collisions in a row means a broken RNG


def _check_jobs(book: JobBook, attribute: object, jobs: tuple[Job, ...]) -> None:
    seen: set[str] = set()
    for job in jobs:
        if not isinstance(job, Job):
            raise CronError("a job book holds jobs only")
        if job.id in seen:
            raise CronError(f"job id {job.id} appears twice")
        seen.add(job.id)


def _job_tuple(jobs: Iterable[Job]) -> tuple[Job, ...]:
    return tuple(jobs)


def _check_version(book: JobBook, attribute: object, version: object) -> None:
    if version != BOOK_VERSION or isinstance(version, bool):
        raise CronError(f"job book version {version!r} is not {BOOK_VERSION}")


@attrs.frozen
class JobBook:
    """Every job of the bot, in creation order; ids are unique. `version` is
    the job format's (`BOOK_VERSION`)."""

    version: int = attrs.field(default=BOOK_VERSION, validator=_check_version)
    jobs: tuple[Job, ...] = attrs.field(default=(), converter=_job_tuple, validator=_check_jobs)


@attrs.frozen
class Limits:
    """The bot's limits (`cron.*` in config.yml): the shortest repeat
    `min_interval` in seconds, the most jobs one owner may have, and the zone
    (`default_tz`) of cron expressions and `at` times without their own."""

    min_interval: int
    max_jobs_per_owner: int
    default_tz: str


def new_job_id(rng: random.Random, book: JobBook | None = None) -> str:
    """A fresh job id: 8 hex digits drawn from `rng`, not used in `book`.
    Raises `CronError` if a hundred draws in a row are all taken."""
    taken = {job.id for job in book.jobs} if book is not None else set()
    for _ in range(_MAX_ID_DRAWS):
        job_id = f"{rng.getrandbits(32):08x}"
        if job_id not in taken:
            return job_id
    raise CronError("could not draw an unused job id; try again")


def _replace(book: JobBook, job: Job) -> JobBook:
    return attrs.evolve(book, jobs=tuple(job if j.id == job.id else j for j in book.jobs))


def _without(book: JobBook, job_id: str) -> JobBook:
    return attrs.evolve(book, jobs=tuple(j for j in book.jobs if j.id != job_id))


def _find(book: JobBook, job_id: str) -> Job | None:
    return next((job for job in book.jobs if job.id == job_id), None)


def _next_run(schedule: Schedule, now: float, default_tz: str) -> float | None:
    """The first fire time after `now`; an `at` keeps its time even when it
    has passed (it is then due once)."""
    if isinstance(schedule, AtSchedule):
        return schedule.at
    return next_fire(schedule, now, default_tz)


def add(
    book: JobBook,
    *,
    owner: str,
    name: str,
    schedule: Schedule,
    action: Action,
    now: float,
    limits: Limits,
    new_id: str,
) -> tuple[JobBook, Job]:
    """`book` with a new enabled job of `owner` and that job, first due at
    its first fire time after `now`. Raises `CronError` when the owner, name,
    schedule (`check_schedule` against `limits`) or action is not valid, when
    the owner already has `limits.max_jobs_per_owner` jobs, or when `new_id`
    is taken (draw another with `new_job_id`)."""
    parse_owner(owner)
    check_job_id(new_id)
    check_schedule(
        schedule, min_interval=limits.min_interval, now=now, default_tz=limits.default_tz
    )
    count = sum(1 for job in book.jobs if job.owner == owner)
    if count >= limits.max_jobs_per_owner:
        raise CronError(
            f"{owner} already has {count} scheduled jobs, the most allowed"
            f" (cron.max_jobs_per_owner = {limits.max_jobs_per_owner}); remove one first"
        )
    if _find(book, new_id) is not None:
        raise CronError(f"job id {new_id} is already used; draw another")
    job = Job(
        id=new_id,
        owner=owner,
        name=name,
        schedule=schedule,
        action=action,
        enabled=True,
        created_at=now,
        next_run_at=_next_run(schedule, now, limits.default_tz),
    )
    return attrs.evolve(book, jobs=(*book.jobs, job)), job


def list_jobs(book: JobBook, owner: str | None) -> list[Job]:
    """The jobs `owner` may see, in creation order: its own, or every job for
    the operator (`owner=None`)."""
    return [job for job in book.jobs if owner is None or job.owner == owner]


def get(book: JobBook, owner: str | None, job_id: str) -> Job:
    """Job `job_id` if `owner` may see it (its owner, or the operator).
    Raises `CronError` for a malformed id and `JobNotFound` for a missing one
    or one owned by someone else (the same error: see the module docstring)."""
    check_job_id(job_id)
    job = _find(book, job_id)
    if job is None or (owner is not None and job.owner != owner):
        raise JobNotFound(job_id)
    return job


def update(
    book: JobBook,
    owner: str | None,
    job_id: str,
    *,
    name: str | None = None,
    message: str | None = None,
    command: str | None = None,
    schedule: Schedule | None = None,
    now: float,
    limits: Limits,
) -> tuple[JobBook, Job]:
    """Change what is given of job `job_id`'s name, action (`message` makes
    it an agent turn, `command` a command: give at most one) and schedule; a
    new schedule is checked against `limits` and, if the job is enabled,
    restarts its fire times from `now`. Returns the book and the job as
    changed. Raises like `get`, and `CronError` when nothing or both actions
    are given or a value is not valid."""
    job = get(book, owner, job_id)
    if name is None and message is None and command is None and schedule is None:
        raise CronError("nothing to update: give a name, a message, a command or a schedule")
    if message is not None and command is not None:
        raise CronError("give a message (agent turn) or a command, not both")
    changed = job
    if name is not None:
        changed = attrs.evolve(changed, name=name)
    if message is not None:
        changed = attrs.evolve(changed, action=AgentTurn(message=message))
    if command is not None:
        changed = attrs.evolve(changed, action=Command(command=command))
    if schedule is not None:
        check_schedule(
            schedule, min_interval=limits.min_interval, now=now, default_tz=limits.default_tz
        )
        next_run_at = _next_run(schedule, now, limits.default_tz) if job.enabled else None
        changed = attrs.evolve(changed, schedule=schedule, next_run_at=next_run_at)
    return _replace(book, changed), changed


def set_enabled(
    book: JobBook, owner: str | None, job_id: str, enabled: bool, now: float, limits: Limits
) -> tuple[JobBook, Job]:
    """Enable or disable job `job_id`. Disabling clears its next run time;
    enabling checks its schedule against `limits` and `now` (a one-shot whose
    time has passed is refused) and computes its next fire time from `now`.
    Asking for the state it is in changes nothing. Raises like `get`, and
    `CronError` when the schedule may no longer run."""
    job = get(book, owner, job_id)
    if job.enabled == enabled:
        return book, job
    if enabled:
        check_schedule(
            job.schedule, min_interval=limits.min_interval, now=now, default_tz=limits.default_tz
        )
        changed = attrs.evolve(
            job, enabled=True, next_run_at=_next_run(job.schedule, now, limits.default_tz)
        )
    else:
        changed = attrs.evolve(job, enabled=False, next_run_at=None)
    return _replace(book, changed), changed


def run_now(book: JobBook, owner: str | None, job_id: str, now: float) -> tuple[JobBook, Job]:
    """Make job `job_id` due at `now` (the scheduler runs it at its next look
    at the book, or counts a skip if it is running). Raises like `get`, and
    `CronError` when the job is disabled."""
    job = get(book, owner, job_id)
    if not job.enabled:
        raise CronError(f"job {job_id} is disabled; enable it first")
    changed = attrs.evolve(job, next_run_at=now)
    return _replace(book, changed), changed


def remove(book: JobBook, owner: str | None, job_id: str) -> tuple[JobBook, Job]:
    """`book` without job `job_id`, and that job. Raises like `get`."""
    job = get(book, owner, job_id)
    return _without(book, job_id), job


def due_jobs(book: JobBook, now: float) -> list[Job]:
    """The enabled jobs whose `next_run_at` is at or before `now`, earliest
    first (ties by id): each once, however many fire times passed."""
    due = [
        job
        for job in book.jobs
        if job.enabled and job.next_run_at is not None and job.next_run_at <= now
    ]
    return sorted(due, key=lambda job: (job.next_run_at, job.id))


def next_wakeup(book: JobBook) -> float | None:
    """The earliest `next_run_at` of the enabled jobs; None when none will run."""
    times = [job.next_run_at for job in book.jobs if job.enabled and job.next_run_at is not None]
    return min(times, default=None)


def record_start(book: JobBook, job_id: str, now: float, default_tz: str) -> JobBook:
    """Job `job_id` started a run at `now`: its next fire time is computed
    from `now` (a one-shot gets none: `record_run` removes it), so it is not
    due again while it runs unless that time comes. A job removed or disabled
    meanwhile: the book unchanged."""
    job = _find(book, job_id)
    if job is None or not job.enabled:
        return book
    return _replace(book, attrs.evolve(job, next_run_at=next_fire(job.schedule, now, default_tz)))


def record_run(
    book: JobBook, job_id: str, record: RunRecord, now: float, default_tz: str
) -> JobBook:
    """Job `job_id`'s run ended at `now` as `record` says: it becomes the
    job's `last_run` and `runs` grows by one. A one-shot (`at`) job is removed.
    An enabled job keeps a next fire time that is after `now` (set by
    `record_start` or `record_skip`); otherwise it gets the first one after
    `now`, never one it missed. A job removed meanwhile: the book unchanged."""
    job = _find(book, job_id)
    if job is None:
        return book
    if isinstance(job.schedule, AtSchedule):
        return _without(book, job_id)
    next_run_at = job.next_run_at
    if job.enabled and (next_run_at is None or next_run_at <= now):
        next_run_at = next_fire(job.schedule, now, default_tz)
    changed = attrs.evolve(job, last_run=record, runs=job.runs + 1, next_run_at=next_run_at)
    return _replace(book, changed)


def interrupted_one_shots(book: JobBook) -> list[Job]:
    """The enabled one-shot (`at`) jobs whose run was started (`record_start`
    left them no next fire time) and never recorded as ended: the gateway that
    ran them died during the run. Only meaningful before this gateway starts
    any run of its own."""
    return [
        job
        for job in book.jobs
        if job.enabled and isinstance(job.schedule, AtSchedule) and job.next_run_at is None
    ]


def record_skip(book: JobBook, job_id: str, now: float, default_tz: str) -> JobBook:
    """Job `job_id` was due at `now` while its previous run was still going:
    `skipped` grows by one and its next fire time is the first after `now`. A
    job removed or disabled meanwhile: the book unchanged."""
    job = _find(book, job_id)
    if job is None or not job.enabled:
        return book
    changed = attrs.evolve(
        job, skipped=job.skipped + 1, next_run_at=next_fire(job.schedule, now, default_tz)
    )
    return _replace(book, changed)


def rebase_after_clock_jump(book: JobBook, default_tz: str, *, jump: float) -> JobBook:
    """The book after the wall clock moved `jump` seconds more than the
    monotonic clock (negative: it was stepped back). Call it as soon as the
    jump is noticed, before firing anything.

    Forward (a suspend, an NTP step ahead): nothing changes; jobs whose next
    fire time was passed over are due, once each. Back: the next fire times
    were computed by the old clock, so they move with it and no job fires
    again for a time it already had. An `every` job's next fire time moves by
    `jump` (it waits what it had left to wait); a cron job's becomes its first
    fire time at or after the moved time (it keeps firing at its wall-clock
    times); an `at` job keeps its instant. Disabled jobs have no fire time.
    (The size of the step is needed: without it, a back step cannot tell a
    fire time already had from one the wrong clock put far ahead.) Raises
    `CronError` for a `jump` that is not a finite number."""
    if isinstance(jump, bool) or not isinstance(jump, int | float) or not math.isfinite(jump):
        raise CronError(f"a clock jump must be a finite number of seconds, got {jump!r}")
    if jump >= 0:
        return book
    jobs = []
    for job in book.jobs:
        if job.next_run_at is not None and not isinstance(job.schedule, AtSchedule):
            moved = max(job.next_run_at + jump, 0.0)
            next_run_at: float | None
            if isinstance(job.schedule, EverySchedule):
                next_run_at = moved
            else:
                assert isinstance(job.schedule, CronSchedule)
                # the first slot at or after `moved`: slots fall on whole seconds
                next_run_at = next_fire(job.schedule, math.ceil(moved) - 1, default_tz)
            job = attrs.evolve(job, next_run_at=next_run_at)
        jobs.append(job)
    return attrs.evolve(book, jobs=tuple(jobs))
