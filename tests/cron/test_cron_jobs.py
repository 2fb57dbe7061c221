"""The job model: values that check themselves, owners, the not-found error."""

from __future__ import annotations

import math

import attrs
import pytest

from autobot.cron.jobs import (
    MAX_ERROR_CHARS,
    MAX_MESSAGE_CHARS,
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
    check_job_id,
    parse_owner,
)


def job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "id": "0123abcd",
        "owner": "telegram:42",
        "name": "water the plants",
        "schedule": EverySchedule(seconds=3600),
        "action": AgentTurn(message="remind me to water the plants"),
        "created_at": 1000.0,
        "next_run_at": 4600.0,
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "owner",
    ["telegram:42", "telegram:-1001234", "slack:C0123:thread", "whatsapp:33612@s", "cli:me"],
)
def test_owners_are_a_known_channel_and_a_chat_id(owner: str) -> None:
    assert parse_owner(owner) == owner


@pytest.mark.parametrize(
    ("owner", "reason"),
    [
        ("telegram", "write channel:chat_id"),
        ("irc:42", "'irc' is not a channel"),
        ("Telegram:42", "'Telegram' is not a channel"),
        (":42", "'' is not a channel"),
        ("telegram:", "the chat id must be 1 to 256 printable"),
        ("telegram:4 2", "the chat id must be 1 to 256 printable"),
        ("telegram:42\n", "the chat id must be 1 to 256 printable"),
        ("telegram:" + "9" * 257, "the chat id must be 1 to 256 printable"),
    ],
)
def test_bad_owners_are_refused_saying_why(owner: str, reason: str) -> None:
    with pytest.raises(CronError, match=reason):
        parse_owner(owner)


def test_an_owner_must_be_text() -> None:
    with pytest.raises(CronError, match="an owner must be text"):
        parse_owner(42)


def test_not_found_is_one_message_whoever_owns_the_id() -> None:
    error = JobNotFound("0123abcd")
    assert str(error) == "no job '0123abcd'"
    assert error.job_id == "0123abcd"
    assert isinstance(error, CronError) and isinstance(error, ValueError)


@pytest.mark.parametrize("bad", ["0123abc", "0123abcde", "0123ABCD", "../../x", "", "0123abc\n"])
def test_malformed_job_ids_are_refused_whatever_exists(bad: str) -> None:
    with pytest.raises(CronError, match="is not a job id: a job id is 8 hex digits") as caught:
        check_job_id(bad)
    assert not isinstance(caught.value, JobNotFound)


def test_a_job_round_trips_its_fields() -> None:
    made = job(last_run=RunRecord(at=4600, status=RunStatus.OK, duration=2), runs=1)
    assert made.created_at == 1000.0 and isinstance(made.created_at, float)
    assert made.last_run == RunRecord(at=4600.0, status=RunStatus.OK, error=None, duration=2.0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id": "xyz"}, "is not a job id"),
        ({"owner": "irc:1"}, "is not a channel"),
        ({"name": ""}, "name must not be empty"),
        ({"name": "   "}, "name must not be empty"),
        ({"name": "two\nlines"}, "name must not contain line breaks"),
        ({"name": "x" * 81}, "name is 81 characters long; the limit is 80"),
        ({"name": "bell\x07"}, "name must not contain"),
        ({"name": 7}, "name must be text"),
        ({"schedule": "every day"}, "schedule must be every, cron or at"),
        ({"action": "say hi"}, "action must be a message"),
        ({"enabled": 1}, "enabled must be true or false"),
        ({"created_at": math.nan}, "created_at is not a time"),
        ({"created_at": -1}, "created_at is not a time"),
        ({"created_at": True}, "created_at must be a time"),
        ({"next_run_at": math.inf}, "next_run_at is not a time"),
        ({"runs": -1}, "runs must be a whole number"),
        ({"skipped": 1.5}, "skipped must be a whole number"),
        ({"last_run": "ok"}, "last run must be a run record"),
        ({"enabled": False}, "is disabled but has a next run time"),
    ],
)
def test_a_job_that_would_be_malformed_is_never_built(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(CronError, match=reason):
        job(**changes)


def test_evolving_a_job_checks_it_again() -> None:
    with pytest.raises(CronError, match="name must not be empty"):
        attrs.evolve(job(), name="")


def test_messages_and_commands_may_span_lines_but_hold_no_control_characters() -> None:
    assert AgentTurn(message="line one\n\tline two").message == "line one\n\tline two"
    assert Command(command="cd /tmp\nls -l").command == "cd /tmp\nls -l"
    for text in ("\x1b[31mred", "nul\x00", "del\x7f", "c1\x9b", "surrogate\ud800"):
        with pytest.raises(CronError, match="control characters other than newlines and tabs"):
            AgentTurn(message=text)
        with pytest.raises(CronError, match="control characters other than newlines and tabs"):
            Command(command=text)
    with pytest.raises(CronError, match=f"the limit is {MAX_MESSAGE_CHARS}"):
        AgentTurn(message="x" * (MAX_MESSAGE_CHARS + 1))
    with pytest.raises(CronError, match="message must not be empty"):
        AgentTurn(message="\n")


def test_schedules_check_their_values() -> None:
    with pytest.raises(CronError, match="whole number"):
        EverySchedule(seconds=60.0)  # type: ignore[arg-type]
    with pytest.raises(CronError, match="between 1 and"):
        EverySchedule(seconds=0)
    with pytest.raises(CronError, match="not a time zone name"):
        CronSchedule(expr="@daily", tz="Europe/../../etc")
    with pytest.raises(CronError, match="cron_expr must not be empty"):
        CronSchedule(expr="")
    with pytest.raises(CronError, match="at is not a time"):
        AtSchedule(at=1e12)
    assert AtSchedule(at=5).at == 5.0


def test_a_run_record_keeps_a_short_one_line_error() -> None:
    record = RunRecord(
        at=10, status=RunStatus.ERROR, error="Traceback\n  line\x1b[0m " + "x" * 1000, duration=0
    )
    assert record.error is not None
    assert len(record.error) == MAX_ERROR_CHARS and record.error.endswith("...")
    assert "\n" not in record.error and "\x1b" not in record.error
    assert record.error.startswith("Traceback   line [0m xxx")
    assert RunRecord(at=10, status=RunStatus.OK).error is None


def test_a_run_record_checks_its_values() -> None:
    with pytest.raises(CronError, match="duration must be at least 0"):
        RunRecord(at=10, status=RunStatus.OK, duration=-1)
    with pytest.raises(CronError, match="duration must be a number"):
        RunRecord(at=10, status=RunStatus.OK, duration="1s")  # type: ignore[arg-type]
    with pytest.raises(CronError, match="status must be one of ok, error, timeout, skipped"):
        RunRecord(at=10, status="ok")  # type: ignore[arg-type]
    with pytest.raises(CronError, match="a run's time is not a time"):
        RunRecord(at=math.nan, status=RunStatus.OK)
