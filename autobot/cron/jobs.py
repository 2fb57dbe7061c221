"""Scheduled jobs as values: what a job is, who owns it, what it does (pure, no I/O).

A `Job` belongs to one owner, the conversation that created it
(`channel:chat_id`, see `parse_owner`), runs on a `Schedule` (`every` N
seconds, a cron expression in a time zone, or once `at` an instant) and does
one `Action` (an agent turn in the owner's session, or a command the runtime
runs in the sandbox). Every value here is frozen and checks itself when it is
built: a value that exists is well formed, whether it came from the model,
the CLI or the store file. What a schedule *means* (zones, cron syntax,
next fire times) is `autobot.cron.schedule`'s; what a set of jobs may do
(owners, limits, runs) is `autobot.cron.book`'s.

Raises `CronError` (a `ValueError`) with a message meant for the person who
asked: the model as a tool error, the operator as a CLI error.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import attrs

from autobot.channels.pairing import MAX_ID_LENGTH, is_valid_id
from autobot.config.schema import CHANNEL_NAMES

OWNER_CHANNELS = (*CHANNEL_NAMES, "cli")  # "cli": `autobot agent`'s terminal sessions
MAX_NAME_CHARS = 80
MAX_MESSAGE_CHARS = 4000  # an agent turn's prompt: a reminder or an instruction, not a document
MAX_COMMAND_CHARS = 4000
MAX_EXPR_CHARS = 200  # a cron expression or alias; longer ones are lists nobody can read
MAX_ERROR_CHARS = 300  # a run's error as kept in the job: a summary, not a log
MAX_EVERY_SECONDS = 366 * 86400  # rarer than yearly: use a cron expression or `at`
LATEST_TIME = 1e11  # seconds since the epoch (year 5138): later is corruption, never a time
JOB_ID_LENGTH = 8

_JOB_ID = re.compile(f"[0-9a-f]{{{JOB_ID_LENGTH}}}")
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*")
MAX_ZONE_CHARS = 64


class CronError(ValueError):
    """A cron request was refused: the message says what and why, in one or
    two lines for a person (a tool error for the model, a CLI error for the
    operator). Nothing was changed."""


class JobNotFound(CronError):
    """No job `job_id` for this caller. The message is exactly
    `no job '<id>'` whether the id is unused or belongs to another owner, so
    the answer never tells whether someone else's job exists."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}")
        self.job_id = job_id


def _has_control(text: str, allowed: str = "") -> bool:
    """Whether `text` holds a control character (C0, C1, DEL) not in
    `allowed`, or a lone surrogate (it cannot be written as UTF-8)."""
    return any(
        (unicodedata.category(char) in ("Cc", "Cs")) and char not in allowed for char in text
    )


def check_text(value: object, *, what: str, limit: int, multiline: bool) -> str:
    """`value` if it is a non-blank string of at most `limit` characters
    without control characters (newlines and tabs allowed when `multiline`);
    raises `CronError` naming `what` otherwise."""
    if not isinstance(value, str):
        raise CronError(f"{what} must be text")
    if not value.strip():
        raise CronError(f"{what} must not be empty")
    if len(value) > limit:
        raise CronError(f"{what} is {len(value)} characters long; the limit is {limit}")
    if _has_control(value, "\n\t" if multiline else ""):
        kind = (
            "control characters other than newlines and tabs"
            if multiline
            else "line breaks or control characters"
        )
        raise CronError(f"{what} must not contain {kind}")
    return value


def check_job_id(job_id: object) -> str:
    """`job_id` if it has the form of a job id (`JOB_ID_LENGTH` lower-case hex
    digits). A malformed id raises `CronError` saying so: that depends only on
    the text, never on which jobs exist."""
    if isinstance(job_id, str) and _JOB_ID.fullmatch(job_id):
        return job_id
    shown = repr(job_id)[:40] if isinstance(job_id, str) else type(job_id).__name__
    raise CronError(f"{shown} is not a job id: a job id is {JOB_ID_LENGTH} hex digits, as listed")


def check_zone_name(name: object) -> str:
    """`name` if it has the form of an IANA zone name (`Europe/Paris`, `UTC`,
    `Etc/GMT+3`): letters, digits, `_+-` in `/`-separated parts, no `..`, at
    most `MAX_ZONE_CHARS`. Whether the zone exists is `schedule`'s check."""
    if (
        isinstance(name, str)
        and len(name) <= MAX_ZONE_CHARS
        and _ZONE_NAME.fullmatch(name)
        and ".." not in name
    ):
        return name
    shown = repr(name)[:80] if isinstance(name, str) else type(name).__name__
    raise CronError(
        f"{shown} is not a time zone name: use an IANA name such as Europe/Paris or UTC"
    )


def check_time(value: object, *, what: str) -> float:
    """`value` as a float if it is a finite time in seconds since the epoch
    between 0 and `LATEST_TIME`; raises `CronError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CronError(f"{what} must be a time in seconds since the epoch")
    if not (math.isfinite(value) and 0 <= value <= LATEST_TIME):
        raise CronError(f"{what} is not a time between 1970 and the year 5000: {value!r}")
    return float(value)


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CronError(f"{what} must be a whole number of at least 0")
    return value


def parse_owner(text: object) -> str:
    """`text` if it names a job owner: `channel:chat_id` where the channel is
    one of `OWNER_CHANNELS` and the chat id is a platform id
    (`autobot.channels.pairing.is_valid_id`: 1 to 256 printable characters,
    no spaces; it may itself contain `:`). Raises `CronError` otherwise."""
    if not isinstance(text, str):
        raise CronError("an owner must be text of the form channel:chat_id")
    channel, colon, chat_id = text.partition(":")
    shown = repr(text[: MAX_ID_LENGTH + 40])
    if not colon:
        raise CronError(f"{shown} is not an owner: write channel:chat_id, e.g. telegram:42")
    if channel not in OWNER_CHANNELS:
        raise CronError(
            f"{shown} is not an owner: {channel[:40]!r} is not a channel"
            f" (one of {', '.join(OWNER_CHANNELS)})"
        )
    if not is_valid_id(chat_id):
        raise CronError(
            f"{shown} is not an owner: the chat id must be 1 to {MAX_ID_LENGTH}"
            " printable characters without spaces"
        )
    return text


def _validated(check: Callable[[Any], object]) -> Any:
    """An attrs validator running `check(value)` (which raises `CronError`)."""

    def validate(instance: object, attribute: object, value: object) -> None:
        check(value)

    return validate


def _at_time(value: object) -> float:
    return check_time(value, what="at")


def _run_time(value: object) -> float:
    return check_time(value, what="a run's time")


def _created_at(value: object) -> float:
    return check_time(value, what="created_at")


def _next_run_at(value: object) -> float | None:
    return None if value is None else check_time(value, what="next_run_at")


@attrs.frozen
class EverySchedule:
    """Every `seconds` seconds (1 to `MAX_EVERY_SECONDS`), counted from the
    job's creation, then from each run's start. The minimum interval is a
    limit of the bot (`schedule.check_schedule`), not of the value."""

    seconds: int = attrs.field()

    @seconds.validator
    def _check(self, attribute: attrs.Attribute[int], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CronError("every_seconds must be a whole number of seconds")
        if not 1 <= value <= MAX_EVERY_SECONDS:
            raise CronError(
                f"every_seconds must be between 1 and {MAX_EVERY_SECONDS} (a year), got {value}"
            )


@attrs.frozen
class CronSchedule:
    """A 5-field cron expression or an `@daily`-style alias (`expr`, at most
    `MAX_EXPR_CHARS`, one line), read in the IANA zone `tz`; None: the bot's
    configured zone (`cron.timezone`, else the host's), whatever it is when the
    next fire time is computed. The syntax is checked by
    `schedule.check_schedule`."""

    expr: str = attrs.field(
        validator=_validated(
            lambda v: check_text(v, what="cron_expr", limit=MAX_EXPR_CHARS, multiline=False)
        )
    )
    tz: str | None = attrs.field(
        default=None, validator=_validated(lambda v: v is None or check_zone_name(v))
    )


@attrs.frozen
class AtSchedule:
    """Once, at `at` (seconds since the epoch); the job is removed after it runs."""

    at: float = attrs.field(converter=_at_time)


Schedule = EverySchedule | CronSchedule | AtSchedule


@attrs.frozen
class AgentTurn:
    """An agent turn in the owner's session, prompted with `message`."""

    message: str = attrs.field(
        validator=_validated(
            lambda v: check_text(v, what="message", limit=MAX_MESSAGE_CHARS, multiline=True)
        )
    )


@attrs.frozen
class Command:
    """A shell command the runtime runs in the sandbox; its output goes to the owner."""

    command: str = attrs.field(
        validator=_validated(
            lambda v: check_text(v, what="command", limit=MAX_COMMAND_CHARS, multiline=True)
        )
    )


Action = AgentTurn | Command


class RunStatus(enum.Enum):
    """How a run ended. SKIPPED: the run did not happen (the runtime's call,
    e.g. an overlap it records as a run; `book.record_skip` only counts)."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"


def short_error(text: str | None) -> str | None:
    """`text` as kept in a `RunRecord`: one line (control characters become
    spaces) of at most `MAX_ERROR_CHARS`, cut with `...`; None stays None."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise CronError("a run's error must be text")
    line = "".join(" " if unicodedata.category(c) in ("Cc", "Cs") else c for c in text).strip()
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 3] + "..."
    return line


def _check_status(value: object) -> None:
    if not isinstance(value, RunStatus):
        raise CronError(f"a run's status must be one of {', '.join(s.value for s in RunStatus)}")


def _duration(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CronError("a run's duration must be a number of seconds")
    if not (math.isfinite(value) and value >= 0):
        raise CronError(f"a run's duration must be at least 0 seconds: {value!r}")
    return float(value)


@attrs.frozen(kw_only=True)
class RunRecord:
    """One run: when it started (`at`, epoch seconds), how it ended, a short
    error (shortened by `short_error`) and how long it took (None: unknown)."""

    at: float = attrs.field(converter=_run_time)
    status: RunStatus = attrs.field(validator=_validated(_check_status))
    error: str | None = attrs.field(default=None, converter=short_error)
    duration: float | None = attrs.field(default=None, converter=_duration)


def _check_schedule_type(value: object) -> None:
    if not isinstance(value, EverySchedule | CronSchedule | AtSchedule):
        raise CronError("a job's schedule must be every, cron or at")


def _check_action_type(value: object) -> None:
    if not isinstance(value, AgentTurn | Command):
        raise CronError("a job's action must be a message (agent turn) or a command")


def _check_last_run(value: object) -> None:
    if value is not None and not isinstance(value, RunRecord):
        raise CronError("a job's last run must be a run record")


@attrs.frozen(kw_only=True)
class Job:
    """A scheduled job: `id` (`JOB_ID_LENGTH` hex digits), its `owner`
    (`parse_owner`), a one-line `name`, when and what; `next_run_at` is None
    when it will not run (disabled, or a one-shot being run); `last_run` is the
    latest finished run; `runs` counts finished runs, `skipped` the fire times
    skipped because the previous run was still going."""

    id: str = attrs.field(validator=_validated(check_job_id))
    owner: str = attrs.field(validator=_validated(parse_owner))
    name: str = attrs.field(
        validator=_validated(
            lambda v: check_text(v, what="name", limit=MAX_NAME_CHARS, multiline=False)
        )
    )
    schedule: Schedule = attrs.field(validator=_validated(_check_schedule_type))
    action: Action = attrs.field(validator=_validated(_check_action_type))
    enabled: bool = attrs.field(default=True)
    created_at: float = attrs.field(converter=_created_at)
    next_run_at: float | None = attrs.field(default=None, converter=_next_run_at)
    last_run: RunRecord | None = attrs.field(default=None, validator=_validated(_check_last_run))
    runs: int = attrs.field(default=0, validator=_validated(lambda v: _count(v, "runs")))
    skipped: int = attrs.field(default=0, validator=_validated(lambda v: _count(v, "skipped")))

    @enabled.validator
    def _check_enabled(self, attribute: attrs.Attribute[bool], value: object) -> None:
        if not isinstance(value, bool):
            raise CronError("enabled must be true or false")

    def __attrs_post_init__(self) -> None:
        if not self.enabled and self.next_run_at is not None:
            raise CronError(f"job {self.id} is disabled but has a next run time")
