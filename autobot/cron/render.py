"""Jobs as text: the lines the `cron` tool shows the model and `autobot cron` the operator (pure).

Times are written in ISO-8601 with their offset, in the zone the job's
schedule is read in (a cron expression's own zone, else the bot's
`default_tz`), so a reader sees the same wall time the schedule names.
"""

from __future__ import annotations

from datetime import datetime

from autobot.cron.jobs import MAX_NAME_CHARS, Action, AgentTurn, CronSchedule, Job, RunRecord
from autobot.cron.schedule import describe, zone

PREVIEW_CHARS = 60  # of a message or command in a one-line listing


def job_zone(job: Job, default_tz: str) -> str:
    """The zone the job's times are shown in."""
    schedule = job.schedule
    return schedule.tz or default_tz if isinstance(schedule, CronSchedule) else default_tz


def moment(at: float, tz: str) -> str:
    """`at` (epoch seconds) as `2026-12-24T09:00:00+01:00` in the zone `tz`."""
    return datetime.fromtimestamp(at, zone(tz)).isoformat(timespec="seconds")


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The first line of `text`, cut to `limit` characters with `...`."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def default_name(action: Action) -> str:
    """A job's name when none was given: the start of what it does."""
    text = action.message if isinstance(action, AgentTurn) else action.command
    return preview(text, MAX_NAME_CHARS)


def _action(job: Job) -> tuple[str, str]:
    if isinstance(job.action, AgentTurn):
        return "agent turn", job.action.message
    return "command", job.action.command


def _next(job: Job, tz: str) -> str:
    if not job.enabled:
        return "disabled"
    return "none" if job.next_run_at is None else moment(job.next_run_at, tz)


def _last(record: RunRecord | None, tz: str) -> str:
    if record is None:
        return "never"
    text = f"{moment(record.at, tz)} {record.status.value}"
    if record.duration is not None:
        text += f" ({record.duration:.1f} s)"
    if record.error:
        text += f": {record.error}"
    return text


def job_line(job: Job, default_tz: str, *, with_owner: bool = False) -> str:
    """One line: id, name, owner (when asked), schedule, kind, next run."""
    tz = job_zone(job, default_tz)
    kind, text = _action(job)
    owner = f"  {job.owner}" if with_owner else ""
    return (
        f"{job.id}  {job.name!r}{owner}  {describe(job.schedule, default_tz)}  "
        f"{kind}: {preview(text)!r}  next: {_next(job, tz)}"
    )


def job_list(jobs: list[Job], default_tz: str, *, with_owner: bool = False) -> str:
    """`job_line` for each job, or a sentence saying there is none."""
    if not jobs:
        return "No scheduled jobs."
    return "\n".join(job_line(job, default_tz, with_owner=with_owner) for job in jobs)


def job_details(job: Job, default_tz: str) -> str:
    """Everything about one job, a field per line."""
    tz = job_zone(job, default_tz)
    kind, text = _action(job)
    lines = [
        f"Job {job.id}: {job.name}",
        f"owner: {job.owner}",
        f"schedule: {describe(job.schedule, default_tz)}",
        f"enabled: {'yes' if job.enabled else 'no'}",
        f"created: {moment(job.created_at, tz)}",
        f"next run: {_next(job, tz)}",
        f"last run: {_last(job.last_run, tz)}",
        f"runs: {job.runs}, skipped while still running: {job.skipped}",
        f"{kind}:",
        text,
    ]
    return "\n".join(lines)
