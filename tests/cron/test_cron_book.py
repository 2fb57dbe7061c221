"""The job book: owner isolation (no existence oracle), limits, runs, skips,
missed runs firing once, and clock jumps."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.cron.book import (
    JobBook,
    Limits,
    add,
    due_jobs,
    get,
    list_jobs,
    new_job_id,
    next_wakeup,
    rebase_after_clock_jump,
    record_run,
    record_skip,
    record_start,
    remove,
    run_now,
    set_enabled,
    update,
)
from autobot.cron.jobs import (
    AgentTurn,
    AtSchedule,
    Command,
    CronError,
    CronSchedule,
    EverySchedule,
    Job,
    JobNotFound,
    RunRecord,
    RunStatus,
    Schedule,
)

ALICE = "telegram:42"
BOB = "slack:C777"
LIMITS = Limits(min_interval=60, max_jobs_per_owner=3, default_tz="UTC")
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HOURLY = CronSchedule(expr="0 * * * *")
EVERY_5_MIN = EverySchedule(seconds=300)
DAILY_9 = CronSchedule(expr="0 9 * * *")


def t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def added(
    book: JobBook,
    owner: str,
    job_id: str,
    schedule: Schedule = EVERY_5_MIN,
    *,
    now: float = NOW,
    limits: Limits = LIMITS,
) -> tuple[JobBook, Job]:
    return add(
        book,
        owner=owner,
        name=f"job {job_id}",
        schedule=schedule,
        action=AgentTurn(message="ping"),
        now=now,
        limits=limits,
        new_id=job_id,
    )


def two_owners() -> JobBook:
    book, _ = added(JobBook(), ALICE, "aaaa0001")
    book, _ = added(book, BOB, "bbbb0001", HOURLY)
    book, _ = added(book, ALICE, "aaaa0002", AtSchedule(at=NOW + 3600))
    return book


def ok(at: float) -> RunRecord:
    return RunRecord(at=at, status=RunStatus.OK, duration=1.0)


# --- isolation -----------------------------------------------------------------------

OwnerOperation = Callable[[JobBook, str | None, str], object]

OPERATIONS: dict[str, OwnerOperation] = {
    "get": lambda book, owner, job_id: get(book, owner, job_id),
    "rename": lambda book, owner, job_id: update(
        book, owner, job_id, name="mine now", now=NOW, limits=LIMITS
    ),
    "new message": lambda book, owner, job_id: update(
        book, owner, job_id, message="exfiltrate", now=NOW, limits=LIMITS
    ),
    "new command": lambda book, owner, job_id: update(
        book, owner, job_id, command="rm -rf ~", now=NOW, limits=LIMITS
    ),
    "new schedule": lambda book, owner, job_id: update(
        book, owner, job_id, schedule=EverySchedule(seconds=60), now=NOW, limits=LIMITS
    ),
    "empty update": lambda book, owner, job_id: update(book, owner, job_id, now=NOW, limits=LIMITS),
    "enable": lambda book, owner, job_id: set_enabled(book, owner, job_id, True, NOW, LIMITS),
    "disable": lambda book, owner, job_id: set_enabled(book, owner, job_id, False, NOW, LIMITS),
    "run now": lambda book, owner, job_id: run_now(book, owner, job_id, NOW),
    "remove": lambda book, owner, job_id: remove(book, owner, job_id),
}


def outcome(operation: OwnerOperation, book: JobBook, owner: str | None, job_id: str) -> object:
    """What a caller sees: the result, or the error's type and message."""
    try:
        return operation(book, owner, job_id)
    except CronError as error:
        return (type(error), str(error), error.args)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize(("caller", "victim_job"), [(BOB, "aaaa0001"), (ALICE, "bbbb0001")])
def test_another_owners_job_answers_exactly_like_a_missing_one(
    name: str, caller: str, victim_job: str
) -> None:
    operation = OPERATIONS[name]
    book = two_owners()
    theirs = outcome(operation, book, caller, victim_job)
    without_it = remove(book, None, victim_job)[0]
    missing = outcome(operation, without_it, caller, victim_job)
    assert theirs == missing == (JobNotFound, f"no job '{victim_job}'", (f"no job '{victim_job}'",))


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_a_malformed_id_is_the_same_answer_whatever_the_book_holds(name: str) -> None:
    operation = OPERATIONS[name]
    answers = {outcome(operation, book, BOB, "AAAA0001") for book in (JobBook(), two_owners())}
    assert len(answers) == 1
    ((kind, message, _),) = answers  # type: ignore[misc]
    assert kind is CronError and "is not a job id" in message


def test_owners_list_only_their_own_jobs_and_the_operator_sees_all() -> None:
    book = two_owners()
    assert [job.id for job in list_jobs(book, ALICE)] == ["aaaa0001", "aaaa0002"]
    assert [job.id for job in list_jobs(book, BOB)] == ["bbbb0001"]
    assert list_jobs(book, "zulip:1") == []
    assert [job.id for job in list_jobs(book, None)] == ["aaaa0001", "bbbb0001", "aaaa0002"]


@pytest.mark.parametrize("name", sorted(set(OPERATIONS) - {"empty update"}))
def test_the_operator_may_act_on_any_job(name: str) -> None:
    result = OPERATIONS[name](two_owners(), None, "bbbb0001")
    job = result[1] if isinstance(result, tuple) else result
    assert isinstance(job, Job) and (job.id, job.owner) == ("bbbb0001", BOB)


_ids = st.sampled_from(["aaaa0001", "aaaa0002", "bbbb0001", "cccc0001", "dddd0001"])
_callers = st.sampled_from([ALICE, BOB, "zulip:9", None])


@given(calls=st.lists(st.tuples(st.sampled_from(sorted(OPERATIONS)), _callers, _ids), max_size=12))
def test_no_sequence_of_calls_touches_or_reveals_another_owners_job(
    calls: list[tuple[str, str | None, str]],
) -> None:
    """Whatever anyone does, a caller changes only its own jobs (the operator
    any), and an answer about a job it does not own is the missing-id answer."""
    book = two_owners()
    for name, caller, job_id in calls:
        before = book
        try:
            result = OPERATIONS[name](book, caller, job_id)
        except JobNotFound as error:
            assert str(error) == f"no job '{job_id}'"
            owner = next((job.owner for job in book.jobs if job.id == job_id), None)
            assert owner is None or (caller is not None and owner != caller)
            continue
        except CronError:
            continue
        owner = get(before, None, job_id).owner
        assert caller is None or owner == caller
        if isinstance(result, tuple):
            book = result[0]
        others = [job for job in before.jobs if job.id != job_id]
        assert [job for job in book.jobs if job.id != job_id] == others


# --- adding and limits ---------------------------------------------------------------


def test_a_new_job_is_enabled_and_first_due_at_its_first_fire_time() -> None:
    book, job = added(JobBook(), ALICE, "aaaa0001")
    assert book.jobs == (job,)
    assert (job.owner, job.enabled, job.created_at, job.runs, job.skipped) == (
        ALICE,
        True,
        NOW,
        0,
        0,
    )
    assert job.next_run_at == NOW + 300
    assert added(JobBook(), ALICE, "aaaa0001", DAILY_9)[1].next_run_at == t(
        "2027-01-15T09:00:00+00:00"
    )
    assert added(JobBook(), ALICE, "aaaa0001", AtSchedule(at=NOW + 5))[1].next_run_at == NOW + 5


def test_an_owner_may_have_at_most_the_configured_number_of_jobs() -> None:
    book = JobBook()
    for number in range(3):
        book, _ = added(book, ALICE, f"aaaa000{number}")
    with pytest.raises(
        CronError,
        match=r"telegram:42 already has 3 scheduled jobs, the most allowed"
        r" \(cron.max_jobs_per_owner = 3\); remove one first",
    ):
        added(book, ALICE, "aaaa0009")
    book, _ = added(book, BOB, "bbbb0001")  # another owner is not affected
    book, _ = remove(book, ALICE, "aaaa0001")
    book, _ = added(book, ALICE, "aaaa0009")
    assert len(list_jobs(book, ALICE)) == 3


def test_adding_checks_the_schedule_against_the_limits() -> None:
    with pytest.raises(CronError, match="at least 60"):
        added(JobBook(), ALICE, "aaaa0001", EverySchedule(seconds=30))
    with pytest.raises(CronError, match="can fire 60 s apart; the minimum interval is 120 s"):
        added(
            JobBook(),
            ALICE,
            "aaaa0001",
            CronSchedule(expr="* * * * *"),
            limits=attrs.evolve(LIMITS, min_interval=120),
        )
    with pytest.raises(CronError, match="in the past"):
        added(JobBook(), ALICE, "aaaa0001", AtSchedule(at=NOW - 1))
    with pytest.raises(CronError, match="is not a channel"):
        added(JobBook(), "irc:1", "aaaa0001")


def test_a_taken_or_malformed_id_is_refused() -> None:
    book, _ = added(JobBook(), ALICE, "aaaa0001")
    with pytest.raises(CronError, match="job id aaaa0001 is already used; draw another"):
        added(book, BOB, "aaaa0001")
    with pytest.raises(CronError, match="is not a job id"):
        added(book, BOB, "job-1")


class ScriptedRandom(random.Random):
    """A Random whose getrandbits returns the values given, in order."""

    def __init__(self, values: list[int]) -> None:
        super().__init__(0)
        self.values = values

    def getrandbits(self, k: int) -> int:
        return self.values.pop(0)


def test_new_job_ids_are_eight_hex_digits_not_used_in_the_book() -> None:
    book, _ = added(JobBook(), ALICE, "0000002a")
    assert new_job_id(ScriptedRandom([42, 42, 0xDEADBEEF]), book) == "deadbeef"
    assert new_job_id(ScriptedRandom([42])) == "0000002a"
    with pytest.raises(CronError, match="could not draw an unused job id"):
        new_job_id(ScriptedRandom([42] * 100), book)
    drawn = {new_job_id(random.Random(seed)) for seed in range(50)}
    assert len(drawn) == 50 and all(len(i) == 8 and int(i, 16) >= 0 for i in drawn)


# --- update, enable, run now ---------------------------------------------------------


def test_update_changes_what_is_given_only() -> None:
    book = two_owners()
    book, job = update(book, ALICE, "aaaa0001", name="tea", now=NOW + 10, limits=LIMITS)
    assert (job.name, job.action, job.next_run_at) == ("tea", AgentTurn(message="ping"), NOW + 300)
    book, job = update(book, ALICE, "aaaa0001", command="date", now=NOW + 10, limits=LIMITS)
    assert job.action == Command(command="date")
    book, job = update(book, ALICE, "aaaa0001", message="hello", now=NOW + 10, limits=LIMITS)
    assert job.action == AgentTurn(message="hello")
    book, job = update(
        book, ALICE, "aaaa0001", schedule=EverySchedule(seconds=600), now=NOW + 10, limits=LIMITS
    )
    assert (job.schedule, job.next_run_at) == (EverySchedule(seconds=600), NOW + 610)
    assert get(book, None, "aaaa0001") == job
    assert book.jobs[1:] == two_owners().jobs[1:]


def test_update_refusals_change_nothing() -> None:
    book = two_owners()
    with pytest.raises(CronError, match="nothing to update"):
        update(book, ALICE, "aaaa0001", now=NOW, limits=LIMITS)
    with pytest.raises(CronError, match="give a message \\(agent turn\\) or a command, not both"):
        update(book, ALICE, "aaaa0001", message="a", command="b", now=NOW, limits=LIMITS)
    with pytest.raises(CronError, match="at least 60"):
        update(book, ALICE, "aaaa0001", schedule=EverySchedule(seconds=5), now=NOW, limits=LIMITS)
    with pytest.raises(CronError, match="name must not contain line breaks"):
        update(book, ALICE, "aaaa0001", name="a\nb", now=NOW, limits=LIMITS)
    assert book == two_owners()


def test_disabling_clears_the_next_run_and_enabling_counts_from_now() -> None:
    book = two_owners()
    book, job = set_enabled(book, ALICE, "aaaa0001", False, NOW + 10, LIMITS)
    assert (job.enabled, job.next_run_at) == (False, None)
    assert [j.id for j in due_jobs(book, NOW + 10_000)] == ["aaaa0002", "bbbb0001"]
    book, job = update(
        book, ALICE, "aaaa0001", schedule=EverySchedule(seconds=600), now=NOW + 20, limits=LIMITS
    )
    assert job.next_run_at is None  # still disabled
    book, job = set_enabled(book, ALICE, "aaaa0001", True, NOW + 5000, LIMITS)
    assert (job.enabled, job.next_run_at) == (True, NOW + 5600)
    same, again = set_enabled(book, ALICE, "aaaa0001", True, NOW + 9000, LIMITS)
    assert same is book and again == job


def test_a_one_shot_whose_time_passed_while_disabled_cannot_be_enabled() -> None:
    book, _ = set_enabled(two_owners(), ALICE, "aaaa0002", False, NOW, LIMITS)
    with pytest.raises(CronError, match="is in the past"):
        set_enabled(book, ALICE, "aaaa0002", True, NOW + 3600, LIMITS)
    book, job = set_enabled(book, ALICE, "aaaa0002", True, NOW + 3599, LIMITS)
    assert job.next_run_at == NOW + 3600


def test_enabling_judges_the_schedule_by_todays_limits() -> None:
    book, _ = set_enabled(two_owners(), ALICE, "aaaa0001", False, NOW, LIMITS)
    with pytest.raises(CronError, match="at least 600"):
        set_enabled(book, ALICE, "aaaa0001", True, NOW, attrs.evolve(LIMITS, min_interval=600))


def test_run_now_makes_a_job_due_at_once() -> None:
    book, job = run_now(two_owners(), BOB, "bbbb0001", NOW + 7)
    assert job.next_run_at == NOW + 7
    assert due_jobs(book, NOW + 7) == [job]
    book, _ = set_enabled(book, BOB, "bbbb0001", False, NOW + 8, LIMITS)
    with pytest.raises(CronError, match="job bbbb0001 is disabled; enable it first"):
        run_now(book, BOB, "bbbb0001", NOW + 9)


# --- due jobs, runs, skips -----------------------------------------------------------


def test_due_jobs_are_the_enabled_ones_whose_time_came_earliest_first() -> None:
    book = two_owners()  # next runs: aaaa0001 NOW+300, bbbb0001 09:00 (NOW+3600), aaaa0002 NOW+3600
    assert due_jobs(book, NOW + 299) == []
    assert [j.id for j in due_jobs(book, NOW + 300)] == ["aaaa0001"]
    assert [j.id for j in due_jobs(book, NOW + 4000)] == ["aaaa0001", "aaaa0002", "bbbb0001"]
    assert next_wakeup(book) == NOW + 300
    book, _ = set_enabled(book, ALICE, "aaaa0001", False, NOW, LIMITS)
    assert next_wakeup(book) == NOW + 3600
    assert next_wakeup(JobBook()) is None


def test_runs_missed_while_down_fire_once_and_the_next_counts_from_now() -> None:
    """Every 5 minutes and hourly jobs; the gateway is down for ten hours."""
    book = two_owners()
    back = NOW + 10 * 3600 + 17
    due = due_jobs(book, back)
    assert [job.id for job in due] == ["aaaa0001", "aaaa0002", "bbbb0001"]  # each once
    for job in due:
        book = record_start(book, job.id, back, "UTC")
    assert due_jobs(book, back) == []
    assert get(book, None, "aaaa0001").next_run_at == back + 300
    assert get(book, None, "bbbb0001").next_run_at == t("2027-01-15T19:00:00+00:00")
    for job in due:
        book = record_run(book, job.id, ok(back), back + 2, "UTC")
    assert [(j.id, j.runs, j.last_run) for j in book.jobs] == [
        ("aaaa0001", 1, ok(back)),
        ("bbbb0001", 1, ok(back)),
    ]  # the one-shot ran once and is gone
    assert due_jobs(book, back + 299) == []


def test_record_run_keeps_a_future_next_run_and_otherwise_counts_from_now() -> None:
    book = two_owners()
    started = record_start(book, "aaaa0001", NOW + 300, "UTC")
    finished = record_run(started, "aaaa0001", ok(NOW + 300), NOW + 330, "UTC")
    assert get(finished, None, "aaaa0001").next_run_at == NOW + 600  # the cadence is kept
    # without record_start (or a run longer than the interval): from the end of the run
    finished = record_run(book, "aaaa0001", ok(NOW + 300), NOW + 900, "UTC")
    assert get(finished, None, "aaaa0001").next_run_at == NOW + 1200


def test_a_run_is_recorded_with_its_outcome() -> None:
    failed = RunRecord(at=NOW + 300, status=RunStatus.TIMEOUT, error="timed out", duration=60)
    book = record_run(two_owners(), "aaaa0001", failed, NOW + 360, "UTC")
    job = get(book, ALICE, "aaaa0001")
    assert (job.last_run, job.runs, job.skipped) == (failed, 1, 0)
    book = record_run(book, "aaaa0001", ok(NOW + 660), NOW + 661, "UTC")
    assert get(book, ALICE, "aaaa0001").runs == 2


def test_a_job_removed_or_disabled_while_running() -> None:
    book = record_start(two_owners(), "aaaa0001", NOW + 300, "UTC")
    gone = remove(book, ALICE, "aaaa0001")[0]
    assert record_run(gone, "aaaa0001", ok(NOW + 300), NOW + 301, "UTC") is gone
    assert record_skip(gone, "aaaa0001", NOW + 600, "UTC") is gone
    assert record_start(gone, "aaaa0001", NOW + 600, "UTC") is gone
    off = set_enabled(book, ALICE, "aaaa0001", False, NOW + 301, LIMITS)[0]
    finished = record_run(off, "aaaa0001", ok(NOW + 300), NOW + 302, "UTC")
    job = get(finished, ALICE, "aaaa0001")
    assert (job.enabled, job.next_run_at, job.runs) == (False, None, 1)
    assert record_skip(off, "aaaa0001", NOW + 600, "UTC") is off


def test_a_one_shot_has_no_next_run_while_it_runs_and_is_removed_after() -> None:
    book = record_start(two_owners(), "aaaa0002", NOW + 3600, "UTC")
    job = get(book, ALICE, "aaaa0002")
    assert (job.enabled, job.next_run_at) == (True, None)
    assert due_jobs(book, NOW + 99_999) == due_jobs(remove(book, None, "aaaa0002")[0], NOW + 99_999)
    book = record_run(book, "aaaa0002", ok(NOW + 3600), NOW + 3601, "UTC")
    assert [j.id for j in book.jobs] == ["aaaa0001", "bbbb0001"]


def test_a_skip_is_counted_and_moves_the_next_run_past_now() -> None:
    book = record_start(two_owners(), "bbbb0001", t("2027-01-15T09:00:00+00:00"), "UTC")
    # the run is still going at 10:00, when the job is due again
    ten = t("2027-01-15T10:00:00+00:00")
    assert [j.id for j in due_jobs(book, ten)] == ["aaaa0001", "aaaa0002", "bbbb0001"]
    book = record_skip(book, "bbbb0001", ten, "UTC")
    job = get(book, BOB, "bbbb0001")
    assert (job.skipped, job.runs, job.next_run_at) == (1, 0, t("2027-01-15T11:00:00+00:00"))
    book = record_run(book, "bbbb0001", ok(t("2027-01-15T09:00:00+00:00")), ten + 60, "UTC")
    job = get(book, BOB, "bbbb0001")
    assert (job.skipped, job.runs, job.next_run_at) == (1, 1, t("2027-01-15T11:00:00+00:00"))


# --- clock jumps ---------------------------------------------------------------------


def test_a_forward_jump_changes_nothing_and_passed_times_are_due_once() -> None:
    book = two_owners()
    assert rebase_after_clock_jump(book, "UTC", jump=7200.0) is book
    assert rebase_after_clock_jump(book, "UTC", jump=0) is book
    assert [j.id for j in due_jobs(book, NOW + 7200)] == ["aaaa0001", "aaaa0002", "bbbb0001"]


def test_a_back_step_moves_every_jobs_with_the_clock() -> None:
    book = rebase_after_clock_jump(two_owners(), "UTC", jump=-120.0)
    assert get(book, None, "aaaa0001").next_run_at == NOW + 180  # 5 minutes, as it was


def test_a_back_step_keeps_a_cron_job_on_its_wall_clock_times_without_repeating_one() -> None:
    """The 09:00 job ran; the clock then steps back 2 s to 08:59:59: it must
    not run again at 09:00 today."""
    nine = t("2027-01-15T09:00:00+00:00")
    book, _ = added(JobBook(), BOB, "bbbb0001", DAILY_9, now=nine - 60)
    book = record_start(book, "bbbb0001", nine, "UTC")
    book = record_run(book, "bbbb0001", ok(nine), nine + 1, "UTC")
    book = rebase_after_clock_jump(book, "UTC", jump=-2.0)
    assert get(book, None, "bbbb0001").next_run_at == t("2027-01-16T09:00:00+00:00")


def test_a_back_step_from_a_clock_years_ahead_brings_cron_jobs_back() -> None:
    """The clock read 2031 by mistake (jobs ran and were scheduled by it); it
    is corrected four years back: the jobs fire at their next time in the
    corrected clock, not in 2031."""
    wrong = t("2031-01-15T09:30:00+00:00")
    book, _ = added(JobBook(), BOB, "bbbb0001", DAILY_9, now=wrong)
    book, _ = added(book, ALICE, "aaaa0001", EverySchedule(seconds=3600), now=wrong)
    book, _ = added(book, ALICE, "aaaa0002", AtSchedule(at=wrong + 60), now=wrong)
    right = t("2027-01-15T09:30:00+00:00")
    book = rebase_after_clock_jump(book, "UTC", jump=right - wrong)
    assert get(book, None, "bbbb0001").next_run_at == t("2027-01-16T09:00:00+00:00")
    assert get(book, None, "aaaa0001").next_run_at == right + 3600
    assert get(book, None, "aaaa0002").next_run_at == wrong + 60  # an instant stays an instant


def test_a_back_step_leaves_disabled_and_running_one_shots_alone() -> None:
    book, _ = set_enabled(two_owners(), BOB, "bbbb0001", False, NOW, LIMITS)
    book = record_start(book, "aaaa0002", NOW + 3600, "UTC")
    moved = rebase_after_clock_jump(book, "UTC", jump=-600.0)
    assert get(moved, None, "bbbb0001") == get(book, None, "bbbb0001")
    assert get(moved, None, "aaaa0002") == get(book, None, "aaaa0002")


@pytest.mark.parametrize("jump", [float("nan"), float("inf"), True, "60"])
def test_a_jump_must_be_a_finite_number(jump: object) -> None:
    with pytest.raises(CronError, match="a clock jump must be a finite number of seconds"):
        rebase_after_clock_jump(two_owners(), "UTC", jump=jump)  # type: ignore[arg-type]


# --- the book itself -----------------------------------------------------------------


def test_a_book_refuses_duplicate_ids_and_other_versions() -> None:
    job = two_owners().jobs[0]
    with pytest.raises(CronError, match="job id aaaa0001 appears twice"):
        JobBook(jobs=(job, job))
    with pytest.raises(CronError, match="job book version 2 is not 1"):
        JobBook(version=2)
    with pytest.raises(CronError, match="a job book holds jobs only"):
        JobBook(jobs=("aaaa0001",))  # type: ignore[arg-type]
