"""When jobs fire: parsing schedules, next fire times, descriptions (pure).

Three kinds (values in `autobot.cron.jobs`):

- `every` N seconds: the next fire is exactly `after + N`;
- a 5-field cron expression (minute hour day-of-month month day-of-week:
  numbers, `*`, ranges `1-5`, steps `*/15` and `10-50/20`, lists `1,15`,
  month and day names `jan`..`dec`, `sun`..`sat` in any case, 0 or 7 for
  Sunday) or an alias (`@yearly` `@annually` `@monthly` `@weekly` `@daily`
  `@midnight` `@hourly`), read in an IANA time zone;
- `at` an ISO-8601 time, once.

Cron expressions are evaluated by `cronsim` (Healthchecks.io's evaluator:
small, pure Python, typed, maintained, and documented to follow Debian cron,
DST included). `croniter` was the alternative; its author declared it
abandoned in 2024 before another team took it over, and it does not claim
cron's DST behaviour. cronsim's extensions are accepted too: `L` (last day
of month), `LW`, `5L` (last Friday), `MON#2` (second Monday). Day-of-month and
day-of-week combine as in cron: when both are restricted (neither starts with
`*`), a day matching either fires.

Daylight saving time follows Debian cron, as cronsim implements it:

- a job at a fixed time of day (its minute and hour fields do not start
  with `*`) fires by the wall clock. When the clocks spring forward over its
  time (02:30 in Europe/Paris on the last Sunday of March does not exist), it
  fires once, at the first wall-clock minute after the gap (03:00 CEST); when
  they fall back and its time happens twice, it fires once, at the first
  occurrence (02:30 CEST);
- a job whose minute or hour field starts with `*` (`*/15 * * * *`,
  `0 * * * *`) fires at real instants: none in the skipped hour, one in each
  pass of the repeated hour.

The minimum interval (`cron.min_interval_seconds`) is checked on the wall
clock: an expression whose consecutive fire times can ever be closer than it
(within a day, or from one firing day's last time to the next firing day's
first) is refused. A DST change can bring two fires of a fixed-time job
closer once (by the DST shift), which the check does not count.

Zones come from `zoneinfo`: the system's database, else the `tzdata` package
(a declared dependency, so hosts and containers without /usr/share/zoneinfo
still know every zone). Raises `CronError` with a message for the requester.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cronsim import CronSim, CronSimError

from autobot.cron.jobs import (
    LATEST_TIME,
    MAX_EXPR_CHARS,
    AtSchedule,
    CronError,
    CronSchedule,
    EverySchedule,
    Schedule,
    check_text,
    check_zone_name,
)

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SYNTAX_HELP = (
    "5 fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * mon-fri',"
    " or one of " + " ".join(ALIASES)
)
_DAY = 86400
# The calendar (weekdays, month lengths, leap years) repeats every 28 years
# between 1901 and 2099: scanning one such span, plus the gap that crosses its
# end, sees every distance between consecutive firing days.
_SCAN_FROM = datetime(2001, 1, 1, tzinfo=UTC)
_SCAN_UNTIL = datetime(2029, 1, 1, tzinfo=UTC)


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone `name`; raises `CronError` when it is not a zone name or
    no zone of that name is known."""
    check_zone_name(name)
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name of a directory of the database ("Europe"), or unreadable
        raise CronError(
            f"{name!r} is not a known time zone: use an IANA name such as Europe/Paris or UTC"
        ) from None


def host_timezone(
    environ: Mapping[str, str] | None = None, localtime: Path = Path("/etc/localtime")
) -> str:
    """The host's IANA zone name: `TZ` (`Europe/Paris`, `:Europe/Paris`, or a
    path into a zoneinfo directory) when it names a known zone, else the zone
    the `localtime` symlink points into, else "UTC". Reads the environment
    (`os.environ` unless given) and the link: the shell's one impure helper."""
    env = os.environ if environ is None else environ
    candidates = []
    tz = env.get("TZ", "").removeprefix(":")
    if tz:
        candidates.append(_zone_name_in_path(tz) or tz)
    try:
        target = os.readlink(localtime)
    except OSError:
        target = ""
    if target:
        candidates.append(_zone_name_in_path(target) or "")
    for name in candidates:
        try:
            zone(name)
        except CronError:
            continue
        return name
    return "UTC"


def _zone_name_in_path(path: str) -> str | None:
    """`Europe/Paris` from `/usr/share/zoneinfo/Europe/Paris`; None when the
    path goes through no `zoneinfo` directory."""
    _head, marker, name = path.rpartition("zoneinfo/")
    return name if marker else None


def cron_fields(expr: str) -> str:
    """The 5-field form of `expr` (an alias expanded, blanks normalised);
    raises `CronError` when it has another number of fields or an unknown
    alias (`@reboot` has no fire time)."""
    check_text(expr, what="cron_expr", limit=MAX_EXPR_CHARS, multiline=False)
    words = expr.split()
    if len(words) == 1 and words[0].startswith("@"):
        alias = words[0].lower()
        if alias not in ALIASES:
            raise CronError(f"{expr!r} is not a cron schedule: {_SYNTAX_HELP}")
        return ALIASES[alias]
    if len(words) != 5:
        raise CronError(
            f"{expr!r} has {len(words)} field{'s' if len(words) != 1 else ''}, not 5: {_SYNTAX_HELP}"
        )
    return " ".join(words)


def _cronsim(fields: str, start: datetime) -> CronSim:
    """cronsim's iterator over `fields` from `start` (exclusive); raises
    `CronError` with cronsim's reason ("bad hour") when the fields are wrong."""
    try:
        return CronSim(fields, start)
    except CronSimError as error:
        reason = str(error).lower() or "not valid"
        raise CronError(f"{fields!r} is not a cron expression ({reason}): {_SYNTAX_HELP}") from None
    except (ValueError, IndexError):  # malformed terms cronsim does not check itself
        raise CronError(f"{fields!r} is not a cron expression: {_SYNTAX_HELP}") from None


def _times(fields: str, start: datetime) -> Iterator[datetime]:
    """The fire times of `fields` after `start`, stopping where cronsim gives
    up (no fire within 50 years)."""
    iterator = _cronsim(fields, start)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except (ValueError, IndexError):
            raise CronError(f"{fields!r} is not a cron expression: {_SYNTAX_HELP}") from None


def _cron_gap_error(expr: str, fields: str, min_interval: int) -> CronError | None:
    """Why `fields` fires more often than every `min_interval` seconds on the
    wall clock (None when it does not): see the module docstring."""
    minute, hour, day, month, weekday = fields.split()
    day_start = _SCAN_FROM - timedelta(seconds=1)
    seconds_of_day: list[int] = []
    for fire in _times(f"{minute} {hour} * * *", day_start):
        if fire.date() != _SCAN_FROM.date():
            break
        offset = int((fire - _SCAN_FROM).total_seconds())
        if seconds_of_day and offset - seconds_of_day[-1] < min_interval:
            gap = offset - seconds_of_day[-1]
            return _too_often(expr, gap, min_interval)
        seconds_of_day.append(offset)
    wrap = _DAY - seconds_of_day[-1] + seconds_of_day[0]
    if wrap >= min_interval:
        return None
    fewest_days = _fewest_days_between_firing_days(f"0 0 {day} {month} {weekday}")
    if fewest_days is not None and fewest_days * _DAY - _DAY + wrap < min_interval:
        return _too_often(expr, fewest_days * _DAY - _DAY + wrap, min_interval)
    return None


def _fewest_days_between_firing_days(day_fields: str) -> int | None:
    """The fewest days from one firing day of `day_fields` to the next (None:
    it never fires twice in the scanned span)."""
    fewest: int | None = None
    previous: datetime | None = None
    for fire in _times(day_fields, _SCAN_FROM - timedelta(seconds=1)):
        if previous is not None:
            days = (fire - previous).days
            fewest = days if fewest is None else min(fewest, days)
            if fewest == 1:
                break
        if fire >= _SCAN_UNTIL:
            break
        previous = fire
    return fewest


def _too_often(expr: str, gap: int, min_interval: int) -> CronError:
    return CronError(
        f"cron {expr!r} can fire {gap} s apart; the minimum interval is {min_interval} s"
        " (cron.min_interval_seconds)"
    )


def check_cron(schedule: CronSchedule) -> str:
    """The 5-field form of `schedule`'s expression when it is valid and its
    own zone (if any) is known; raises `CronError` otherwise. What a stored
    job must satisfy whatever the limits of the day."""
    if schedule.tz is not None:
        zone(schedule.tz)
    fields = cron_fields(schedule.expr)
    _cronsim(fields, _SCAN_FROM)
    return fields


def check_schedule(schedule: Schedule, *, min_interval: int, now: float, default_tz: str) -> None:
    """Raise `CronError` unless `schedule` may be given to a job now: an
    `every` of at least `min_interval` seconds; a valid cron expression in a
    known zone that never fires more often than `min_interval`; an `at` after
    `now`."""
    if isinstance(schedule, EverySchedule):
        if schedule.seconds < min_interval:
            raise CronError(
                f"every_seconds must be at least {min_interval} (cron.min_interval_seconds),"
                f" got {schedule.seconds}"
            )
    elif isinstance(schedule, CronSchedule):
        zone(schedule.tz or default_tz)
        fields = check_cron(schedule)
        error = _cron_gap_error(schedule.expr, fields, min_interval)
        if error is not None:
            raise error
    elif schedule.at <= now:
        raise CronError(
            f"at {_instant(schedule.at, default_tz)} is in the past"
            f" (it is now {_instant(now, default_tz)})"
        )


def parse_at(text: str, *, tz: str, now: float) -> AtSchedule:
    """`text`, an ISO-8601 date and time (`2026-12-24T09:00+01:00`,
    `2026-12-24 09:00`, `...Z`), as a one-shot schedule. Without an offset it
    is read in the zone `tz`: a wall time the clocks skip there is refused, one
    they repeat means its first occurrence. Raises `CronError` when it is not
    such a time or not after `now`."""
    check_text(text, what="at", limit=64, multiline=False)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CronError(
            f"at {text!r} is not an ISO-8601 time such as 2026-12-24T09:00 or 2026-12-24T09:00+01:00"
        ) from None
    if moment.tzinfo is None:
        where = zone(tz)
        local = moment.replace(tzinfo=where)
        if local.astimezone(UTC).astimezone(where).replace(tzinfo=None) != moment:
            raise CronError(f"at {text!r} does not exist in {tz}: the clocks skip it (DST)")
        moment = local
    try:
        instant = moment.timestamp()
    except (OverflowError, ValueError):
        raise CronError(f"at {text!r} is out of range") from None
    if not 0 <= instant <= LATEST_TIME:
        raise CronError(f"at {text!r} is not between 1970 and the year 5000")
    schedule = AtSchedule(at=instant)
    if schedule.at <= now:
        raise CronError(f"at {text!r} is in the past (it is now {_instant(now, tz)})")
    return schedule


def parse_schedule(
    *,
    every_seconds: int | None,
    cron_expr: str | None,
    at: str | None,
    tz: str | None,
    min_interval: int,
    now: float,
    default_tz: str,
) -> Schedule:
    """The schedule described by exactly one of `every_seconds`, `cron_expr`
    and `at`, checked against the minimum interval and `now`
    (`check_schedule`). `tz` (an IANA name) is the zone of a cron expression
    (None: `default_tz` at each fire) or of an `at` time written without an
    offset; it means nothing to `every_seconds`. Raises `CronError`."""
    given = [
        name
        for name, value in (("every_seconds", every_seconds), ("cron_expr", cron_expr), ("at", at))
        if value is not None
    ]
    if len(given) != 1:
        detail = f"got {' and '.join(given)}" if given else "got none"
        raise CronError(f"give exactly one of every_seconds, cron_expr or at ({detail})")
    if tz is not None:
        zone(tz)
    schedule: Schedule
    if every_seconds is not None:
        if tz is not None:
            raise CronError("tz applies to cron_expr and at, not to every_seconds")
        schedule = EverySchedule(seconds=every_seconds)
    elif cron_expr is not None:
        # blanks (tabs, a trailing newline) are normalised to single spaces
        expr = " ".join(cron_expr.split()) if isinstance(cron_expr, str) else cron_expr
        schedule = CronSchedule(expr=expr, tz=tz)
    else:
        assert at is not None
        schedule = parse_at(at, tz=tz or default_tz, now=now)
    check_schedule(schedule, min_interval=min_interval, now=now, default_tz=default_tz)
    return schedule


def next_fire(schedule: Schedule, after: float, default_tz: str) -> float | None:
    """The first fire time of `schedule` strictly after `after` (epoch
    seconds); None when it never fires again (an `at` that is not after
    `after`, a cron expression with no fire in the next 50 years). A cron
    expression is read in its zone, else `default_tz`. Raises `CronError` for
    an unknown zone or an invalid expression."""
    if isinstance(schedule, EverySchedule):
        return after + schedule.seconds
    if isinstance(schedule, AtSchedule):
        return schedule.at if schedule.at > after else None
    where = zone(schedule.tz or default_tz)
    fields = cron_fields(schedule.expr)
    for candidate in _times(fields, datetime.fromtimestamp(after, where)):
        # A fixed-time job's candidates are wall times from the wall time of
        # `after`, each meaning its first occurrence (fold=0): counting from
        # inside the second pass of a repeated hour, that hour's candidates
        # are already past and are passed over, so the job still fires once.
        instant = candidate.timestamp()
        if instant > after:
            return instant
    return None


def _instant(at: float, tz: str) -> str:
    """`at` written in the zone `tz`: `2026-12-24T09:00+01:00` (seconds only
    when not zero)."""
    moment = datetime.fromtimestamp(at, zone(tz))
    spec = "minutes" if moment.second == 0 and moment.microsecond == 0 else "seconds"
    return moment.isoformat(timespec=spec)


def describe(schedule: Schedule, default_tz: str | None = None) -> str:
    """`schedule` in a few words: `every 300 s`, `cron '0 9 * * 1-5'
    (Europe/Paris)`, `at 2026-12-24T09:00+01:00`. A cron expression without a
    zone of its own shows `default_tz` (or "default zone" when it is None);
    an `at` time is written in `default_tz` (UTC when None)."""
    if isinstance(schedule, EverySchedule):
        return f"every {schedule.seconds} s"
    if isinstance(schedule, CronSchedule):
        return f"cron {schedule.expr!r} ({schedule.tz or default_tz or 'default zone'})"
    return f"at {_instant(schedule.at, default_tz or 'UTC')}"
