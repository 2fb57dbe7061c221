"""Schedules: parsing, next fire times (aliases, ranges, steps, names, lists, DST,
leap days), the minimum interval, `at` times, descriptions, the host's zone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.cron.jobs import AtSchedule, CronError, CronSchedule, EverySchedule, Schedule
from autobot.cron.schedule import (
    ALIASES,
    check_schedule,
    describe,
    host_timezone,
    next_fire,
    parse_schedule,
)

PARIS = "Europe/Paris"


def t(text: str) -> float:
    """Epoch seconds of an ISO time with its offset."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, "test times carry their offset"
    return moment.timestamp()


def fires(schedule: Schedule, after: str, count: int, tz: str = "UTC") -> list[str]:
    """The next `count` fire times after `after`, written in `tz`."""
    result = []
    moment: float | None = t(after)
    for _ in range(count):
        assert moment is not None
        moment = next_fire(schedule, moment, tz)
        assert moment is not None
        result.append(datetime.fromtimestamp(moment, ZoneInfo(tz)).isoformat())
    return result


def cron(expr: str, tz: str | None = None) -> CronSchedule:
    return CronSchedule(expr=expr, tz=tz)


def parse(
    *,
    every_seconds: int | None = None,
    cron_expr: str | None = None,
    at: str | None = None,
    tz: str | None = None,
    min_interval: int = 60,
    now: float = t("2026-05-10T10:15:00+00:00"),
    default_tz: str = "UTC",
) -> Schedule:
    return parse_schedule(
        every_seconds=every_seconds,
        cron_expr=cron_expr,
        at=at,
        tz=tz,
        min_interval=min_interval,
        now=now,
        default_tz=default_tz,
    )


# --- every ---------------------------------------------------------------------------


def test_every_fires_exactly_its_interval_after_the_time_given() -> None:
    assert next_fire(EverySchedule(seconds=300), 1000.25, PARIS) == 1300.25
    assert next_fire(EverySchedule(seconds=60), 0.0, PARIS) == 60.0


@given(seconds=st.integers(60, 366 * 86400), after=st.floats(0, 4e9))
def test_every_is_after_plus_seconds(seconds: int, after: float) -> None:
    assert next_fire(EverySchedule(seconds=seconds), after, "UTC") == after + seconds


def test_every_below_the_minimum_interval_is_refused() -> None:
    with pytest.raises(CronError, match=r"every_seconds must be at least 60 .* got 59"):
        parse(every_seconds=59)
    assert parse(every_seconds=60) == EverySchedule(seconds=60)


@pytest.mark.parametrize("bad", [0, -5, 366 * 86400 + 1])
def test_every_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(CronError, match="every_seconds must be between 1 and"):
        parse(every_seconds=bad, min_interval=1)


def test_every_must_be_a_whole_number() -> None:
    with pytest.raises(CronError, match="whole number"):
        parse(every_seconds=True, min_interval=1)  # type: ignore[arg-type]
    with pytest.raises(CronError, match="whole number"):
        parse(every_seconds=90.5, min_interval=1)  # type: ignore[arg-type]


def test_every_takes_no_time_zone() -> None:
    with pytest.raises(CronError, match="tz applies to cron_expr and at"):
        parse(every_seconds=300, tz=PARIS)


# --- which schedule ------------------------------------------------------------------


def test_exactly_one_kind_must_be_given() -> None:
    with pytest.raises(
        CronError, match=r"exactly one of every_seconds, cron_expr or at \(got none\)"
    ):
        parse()
    with pytest.raises(CronError, match=r"\(got every_seconds and cron_expr\)"):
        parse(every_seconds=300, cron_expr="@daily")
    with pytest.raises(CronError, match=r"\(got cron_expr and at\)"):
        parse(cron_expr="@daily", at="2030-01-01T00:00Z")


# --- cron: aliases, fields -----------------------------------------------------------

ALIAS_NEXT = {
    "@hourly": "2026-05-10T11:00:00+00:00",
    "@daily": "2026-05-11T00:00:00+00:00",
    "@midnight": "2026-05-11T00:00:00+00:00",
    "@weekly": "2026-05-17T00:00:00+00:00",  # 2026-05-10 is a Sunday: the next one
    "@monthly": "2026-06-01T00:00:00+00:00",
    "@yearly": "2027-01-01T00:00:00+00:00",
    "@annually": "2027-01-01T00:00:00+00:00",
}


def test_every_alias_is_covered() -> None:
    assert set(ALIAS_NEXT) == set(ALIASES)


@pytest.mark.parametrize("alias", sorted(ALIAS_NEXT))
def test_aliases_fire_when_cron_says(alias: str) -> None:
    schedule = parse(cron_expr=alias)
    assert schedule == CronSchedule(expr=alias, tz=None)
    assert fires(schedule, "2026-05-10T10:15:00+00:00", 1) == [ALIAS_NEXT[alias]]


def test_aliases_are_read_in_any_case() -> None:
    assert fires(cron("@Daily"), "2026-05-10T10:15:00+00:00", 1) == ["2026-05-11T00:00:00+00:00"]


@pytest.mark.parametrize("alias", ["@reboot", "@every", "@fortnightly"])
def test_unknown_aliases_are_refused(alias: str) -> None:
    with pytest.raises(CronError, match=f"'{alias}' is not a cron schedule: 5 fields"):
        parse(cron_expr=alias)


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # ranges and names: the next weekday morning after a Friday's
        (
            "0 9 * * mon-fri",
            "2026-05-15T10:00:00+00:00",
            ["2026-05-18T09:00:00+00:00", "2026-05-19T09:00:00+00:00"],
        ),
        (
            "0 9 * * 1-5",
            "2026-05-15T10:00:00+00:00",
            ["2026-05-18T09:00:00+00:00", "2026-05-19T09:00:00+00:00"],
        ),
        # steps, from a wildcard and from a range
        (
            "*/15 * * * *",
            "2026-05-10T10:15:00+00:00",
            ["2026-05-10T10:30:00+00:00", "2026-05-10T10:45:00+00:00", "2026-05-10T11:00:00+00:00"],
        ),
        (
            "10-50/20 * * * *",
            "2026-05-10T10:15:00+00:00",
            ["2026-05-10T10:30:00+00:00", "2026-05-10T10:50:00+00:00", "2026-05-10T11:10:00+00:00"],
        ),
        # lists
        (
            "0 0 1,15 * *",
            "2026-05-10T10:15:00+00:00",
            ["2026-05-15T00:00:00+00:00", "2026-06-01T00:00:00+00:00"],
        ),
        (
            "30 8,12,18 * * *",
            "2026-05-10T10:15:00+00:00",
            ["2026-05-10T12:30:00+00:00", "2026-05-10T18:30:00+00:00", "2026-05-11T08:30:00+00:00"],
        ),
        # month names, any case
        (
            "0 12 1 jan,JUL *",
            "2026-05-10T10:15:00+00:00",
            ["2026-07-01T12:00:00+00:00", "2027-01-01T12:00:00+00:00"],
        ),
        # day names, and Sunday as 0 or 7
        ("0 8 * * SUN", "2026-05-10T10:15:00+00:00", ["2026-05-17T08:00:00+00:00"]),
        ("0 8 * * 7", "2026-05-10T10:15:00+00:00", ["2026-05-17T08:00:00+00:00"]),
        ("0 8 * * 0", "2026-05-10T10:15:00+00:00", ["2026-05-17T08:00:00+00:00"]),
        # day of month OR day of week when both are restricted (cron's rule)
        (
            "0 0 13 * fri",
            "2026-05-10T10:15:00+00:00",
            ["2026-05-13T00:00:00+00:00", "2026-05-15T00:00:00+00:00"],
        ),
        # cronsim's extension: the last day of the month
        (
            "0 0 L * *",
            "2026-05-10T10:15:00+00:00",
            ["2026-05-31T00:00:00+00:00", "2026-06-30T00:00:00+00:00"],
        ),
    ],
)
def test_cron_fields(expr: str, after: str, expected: list[str]) -> None:
    schedule = parse(cron_expr=expr)
    assert fires(schedule, after, len(expected)) == expected


def test_blanks_are_normalised_in_the_stored_expression() -> None:
    assert parse(cron_expr="  0   9 * *\t*  ") == CronSchedule(expr="0 9 * * *", tz=None)


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("0 9 * *", r"has 4 fields, not 5"),
        ("0 0 9 * * *", r"has 6 fields, not 5"),  # cronsim's seconds field is not offered
        ("61 * * * *", r"\(bad minute\)"),
        ("0 24 * * *", r"\(bad hour\)"),
        ("0 0 32 * *", r"\(bad day-of-month\)"),
        ("0 0 30 2 *", r"\(bad day-of-month\)"),  # February never has a 30th
        ("0 0 * 13 *", r"\(bad month\)"),
        ("0 0 * * 8", r"\(bad day-of-week\)"),
        ("0 0 * * funday", r"\(bad day-of-week\)"),
        ("*/0 * * * *", r"\(bad minute\)"),
        ("5-1 * * * *", r"\(bad minute\)"),
        ("1,,2 * * * *", r"\(bad minute\)"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(expr: str, reason: str) -> None:
    with pytest.raises(CronError, match=reason):
        parse(cron_expr=expr)


@given(st.text(alphabet="0123456789*/,-LW#abcdefghijklmnopqrstuvwxyzMONTUE @", max_size=40))
def test_any_text_is_a_schedule_or_a_cron_error(expr: str) -> None:
    """Whatever the model writes, the answer is a schedule or a CronError, never a crash."""
    try:
        schedule = parse(cron_expr=expr, min_interval=1)
    except CronError:
        return
    assert isinstance(schedule, CronSchedule)


def test_control_characters_and_overlong_expressions_are_refused() -> None:
    with pytest.raises(CronError, match="has 10 fields, not 5"):
        parse(cron_expr="0 9 * * *\n0 10 * * *")
    with pytest.raises(CronError, match="line breaks or control characters"):
        parse(cron_expr="0 9 * * \x1b[2J*")
    with pytest.raises(CronError, match="the limit is 200"):
        parse(cron_expr="0 " + ",".join(["1"] * 150) + " * * *")


def test_unknown_zones_are_refused() -> None:
    for name in ("Mars/Olympus", "Europe", "../../etc/passwd", "/etc/localtime", ""):
        with pytest.raises(CronError, match="time zone"):
            parse(cron_expr="@daily", tz=name)


# --- cron: time zones and DST --------------------------------------------------------


def test_a_cron_expression_is_read_in_its_zone_or_the_default() -> None:
    own = parse(cron_expr="0 9 * * *", tz=PARIS)
    assert fires(own, "2026-05-10T10:15:00+00:00", 1) == ["2026-05-11T07:00:00+00:00"]
    default = parse(cron_expr="0 9 * * *")
    assert default == CronSchedule(expr="0 9 * * *", tz=None)
    assert next_fire(default, t("2026-05-10T10:15:00+00:00"), PARIS) == t(
        "2026-05-11T09:00:00+02:00"
    )
    # 10:15 UTC is 06:15 in New York: 09:00 there is still to come today
    assert next_fire(default, t("2026-05-10T10:15:00+00:00"), "America/New_York") == t(
        "2026-05-10T09:00:00-04:00"
    )


def test_spring_forward_a_time_in_the_skipped_hour_fires_once_right_after_the_gap() -> None:
    """On 2026-03-29 Paris goes from 02:00 CET to 03:00 CEST: 02:30 does not
    exist, so the 02:30 job fires at 03:00 CEST that day (once), then at
    02:30 again."""
    schedule = cron("30 2 * * *", PARIS)
    assert fires(schedule, "2026-03-28T12:00:00+01:00", 3, PARIS) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_spring_forward_an_hourly_job_has_no_run_in_the_skipped_hour() -> None:
    schedule = cron("0 * * * *", PARIS)
    assert fires(schedule, "2026-03-29T00:30:00+01:00", 3, PARIS) == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]


def test_fall_back_a_time_in_the_repeated_hour_fires_once() -> None:
    """On 2026-10-25 Paris goes from 03:00 CEST back to 02:00 CET: 02:30
    happens twice; the job fires at the first (CEST) only."""
    schedule = cron("30 2 * * *", PARIS)
    assert fires(schedule, "2026-10-24T12:00:00+02:00", 3, PARIS) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    # counted from inside the second pass (after the first 02:30 fired), the
    # second 02:30 is not a fire time either
    assert next_fire(schedule, t("2026-10-25T02:10:00+01:00"), PARIS) == t(
        "2026-10-26T02:30:00+01:00"
    )


def test_fall_back_an_hourly_job_fires_in_both_passes_of_the_hour() -> None:
    schedule = cron("0 * * * *", PARIS)
    assert fires(schedule, "2026-10-25T01:30:00+02:00", 3, PARIS) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def fire_count(schedule: Schedule, start: str, end: str, tz: str) -> int:
    count = 0
    moment = next_fire(schedule, t(start), tz)
    while moment is not None and moment < t(end):
        count += 1
        moment = next_fire(schedule, moment, tz)
    return count


@pytest.mark.parametrize(
    ("expr", "per_day"),
    [("30 2 * * *", 1), ("0 2 * * *", 1), ("59 2 * * *", 1), ("15 1-3 * * *", 3)],
)
@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25"])
def test_dst_days_fire_each_fixed_time_exactly_once(expr: str, per_day: int, day: str) -> None:
    start, end = f"{day}T00:00:00+01:00", f"{day}T23:00:00+01:00"
    assert fire_count(cron(expr, PARIS), start, end, PARIS) == per_day


# --- cron: leap days and rare days ---------------------------------------------------


def test_a_leap_day_job_fires_on_leap_days_only() -> None:
    schedule = parse(cron_expr="0 0 29 2 *")
    assert fires(schedule, "2026-03-01T00:00:00+00:00", 3) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
        "2036-02-29T00:00:00+00:00",
    ]


def test_a_rare_day_is_found_decades_ahead() -> None:
    """The fifth Monday of a February needs a leap year whose February starts
    on a Monday: 2044 is the next."""
    rare = parse(cron_expr="0 0 * 2 MON#5")
    assert fires(rare, "2026-05-10T10:15:00+00:00", 2) == [
        "2044-02-29T00:00:00+00:00",
        "2072-02-29T00:00:00+00:00",
    ]


# --- the minimum interval ------------------------------------------------------------


def test_a_cron_expression_firing_more_often_than_the_minimum_is_refused() -> None:
    with pytest.raises(
        CronError,
        match=r"cron '\* \* \* \* \*' can fire 60 s apart; the minimum interval is 120 s"
        r" \(cron.min_interval_seconds\)",
    ):
        parse(cron_expr="* * * * *", min_interval=120)
    assert parse(cron_expr="*/2 * * * *", min_interval=120) == cron("*/2 * * * *")


def test_uneven_lists_are_judged_by_their_closest_pair() -> None:
    with pytest.raises(CronError, match="can fire 300 s apart"):
        parse(cron_expr="0,5,30 * * * *", min_interval=600)
    assert parse(cron_expr="0,10,30 * * * *", min_interval=600)


def test_the_gap_across_midnight_counts() -> None:
    """23:00 then 00:00 the next day is one hour, however far apart within a day."""
    with pytest.raises(CronError, match="can fire 3600 s apart"):
        parse(cron_expr="0 0,23 * * *", min_interval=7200)
    # ... unless the next day never fires: the 1st of a month never follows the 1st
    assert parse(cron_expr="0 0,23 1 * *", min_interval=7200)


def test_the_gap_between_firing_days_counts() -> None:
    with pytest.raises(CronError, match="can fire 86400 s apart"):
        parse(cron_expr="@daily", min_interval=2 * 86400)
    with pytest.raises(CronError, match="can fire 172800 s apart"):
        parse(cron_expr="0 0 * * mon,wed,fri", min_interval=3 * 86400)
    assert parse(cron_expr="0 0 * * mon,thu", min_interval=3 * 86400)


def test_check_schedule_judges_a_schedule_built_without_parsing() -> None:
    now = t("2026-05-10T10:15:00+00:00")
    with pytest.raises(CronError, match="at least 60"):
        check_schedule(EverySchedule(seconds=10), min_interval=60, now=now, default_tz="UTC")
    with pytest.raises(CronError, match="can fire 60 s apart"):
        check_schedule(cron("* * * * *"), min_interval=120, now=now, default_tz="UTC")
    with pytest.raises(CronError, match="in the past"):
        check_schedule(AtSchedule(at=now), min_interval=60, now=now, default_tz="UTC")


# --- at ------------------------------------------------------------------------------


def test_at_with_an_offset_is_that_instant() -> None:
    schedule = parse(at="2026-12-24T09:00+01:00")
    assert schedule == AtSchedule(at=t("2026-12-24T09:00:00+01:00"))
    assert parse(at="2026-12-24T08:00:00Z") == schedule


def test_at_without_an_offset_is_read_in_the_zone_given_else_the_default() -> None:
    assert parse(at="2026-12-24T09:00", tz=PARIS) == AtSchedule(at=t("2026-12-24T09:00+01:00"))
    assert parse(at="2026-07-01 09:00", default_tz=PARIS) == AtSchedule(
        at=t("2026-07-01T09:00+02:00")
    )
    assert parse(at="2026-12-24T09:00") == AtSchedule(at=t("2026-12-24T09:00+00:00"))


def test_at_in_the_past_or_now_is_refused() -> None:
    now = t("2026-05-10T10:15:00+00:00")
    with pytest.raises(
        CronError,
        match=r"at '2026-05-10T10:14' is in the past \(it is now 2026-05-10T10:15\+00:00\)",
    ):
        parse(at="2026-05-10T10:14", now=now)
    with pytest.raises(CronError, match="in the past"):
        parse(at="2026-05-10T10:15:00+00:00", now=now)
    assert parse(at="2026-05-10T10:15:01+00:00", now=now) == AtSchedule(at=now + 1)


def test_at_in_a_skipped_hour_is_refused_and_a_repeated_one_is_its_first() -> None:
    with pytest.raises(CronError, match="does not exist in Europe/Paris: the clocks skip it"):
        parse(at="2026-03-29T02:30", tz=PARIS)
    assert parse(at="2026-10-25T02:30", tz=PARIS) == AtSchedule(at=t("2026-10-25T02:30+02:00"))


@pytest.mark.parametrize(
    "bad", ["tomorrow", "2026-13-01T00:00", "12/24/2026", "2026-12-24T09:00+01:00x"]
)
def test_at_must_be_an_iso_time(bad: str) -> None:
    with pytest.raises(CronError, match=re.escape(f"at '{bad}' is not an ISO-8601 time such as")):
        parse(at=bad)


def test_at_must_be_a_plausible_time() -> None:
    with pytest.raises(CronError, match="at must not be empty"):
        parse(at=" ")
    with pytest.raises(CronError, match="is not between 1970 and the year 5000"):
        parse(at="9999-12-31T23:59+00:00")


def test_at_next_fire_is_itself_then_never() -> None:
    schedule = AtSchedule(at=5000.0)
    assert next_fire(schedule, 4999.5, "UTC") == 5000.0
    assert next_fire(schedule, 5000.0, "UTC") is None


# --- properties ----------------------------------------------------------------------

_minutes = st.sampled_from(["0", "30", "*/15", "5,35", "0-59/20", "*", "59"])
_hours = st.sampled_from(["*", "2", "0,2,3", "1-3", "*/6", "23", "2-3/1"])
_days = st.sampled_from(["*", "1", "1,15", "L", "29", "*/10"])
_months = st.sampled_from(["*", "2", "3,10", "jan-mar", "*/2"])
_weekdays = st.sampled_from(["*", "sun", "mon-fri", "0,6", "5L", "mon#2"])
_zones = st.sampled_from(["UTC", PARIS, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])
_afters = st.floats(t("2000-01-01T00:00:00+00:00"), t("2040-01-01T00:00:00+00:00"))


@given(
    minute=_minutes,
    hour=_hours,
    day=_days,
    month=_months,
    weekday=_weekdays,
    tz=_zones,
    after=_afters,
)
def test_next_fire_is_strictly_after_and_strictly_increasing(
    minute: str, hour: str, day: str, month: str, weekday: str, tz: str, after: float
) -> None:
    schedule = cron(f"{minute} {hour} {day} {month} {weekday}", tz)
    first = next_fire(schedule, after, "UTC")
    if first is None:
        return
    assert first > after
    second = next_fire(schedule, first, "UTC")
    assert second is None or second > first
    # nothing fires in between: counting from any time before `first` gives `first`
    assert next_fire(schedule, (after + first) / 2, "UTC") == first
    assert next_fire(schedule, first - 0.5, "UTC") == first


@given(seconds=st.integers(1, 10**7), after=_afters)
def test_every_next_fire_is_strictly_increasing(seconds: int, after: float) -> None:
    schedule = EverySchedule(seconds=seconds)
    first = next_fire(schedule, after, "UTC")
    assert first is not None and first > after
    assert next_fire(schedule, first, "UTC") == first + seconds


# --- describe, host zone -------------------------------------------------------------


def test_describe() -> None:
    assert describe(EverySchedule(seconds=300)) == "every 300 s"
    assert describe(cron("0 9 * * 1-5", PARIS)) == "cron '0 9 * * 1-5' (Europe/Paris)"
    assert describe(cron("@daily"), "Asia/Tokyo") == "cron '@daily' (Asia/Tokyo)"
    assert describe(cron("@daily")) == "cron '@daily' (default zone)"
    at = AtSchedule(at=t("2026-12-24T09:00+01:00"))
    assert describe(at, PARIS) == "at 2026-12-24T09:00+01:00"
    assert describe(at) == "at 2026-12-24T08:00+00:00"
    assert describe(AtSchedule(at=t("2026-12-24T09:00:30+01:00")), PARIS) == (
        "at 2026-12-24T09:00:30+01:00"
    )


def test_host_timezone_from_tz_then_localtime_then_utc(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    os.symlink("/usr/share/zoneinfo/Asia/Tokyo", link)
    missing = tmp_path / "missing"
    assert host_timezone({"TZ": "Europe/Paris"}, link) == "Europe/Paris"
    assert host_timezone({"TZ": ":America/New_York"}, link) == "America/New_York"
    assert host_timezone({"TZ": "/usr/share/zoneinfo/Europe/Berlin"}, link) == "Europe/Berlin"
    assert host_timezone({"TZ": "Not/AZone"}, link) == "Asia/Tokyo"
    assert host_timezone({}, link) == "Asia/Tokyo"
    assert host_timezone({}, missing) == "UTC"
    plain = tmp_path / "plain"
    plain.write_bytes(b"TZif")  # a copied zone file names no zone
    assert host_timezone({}, plain) == "UTC"


def test_zones_work_without_the_system_database() -> None:
    """tzdata is a dependency: with no system zone directory at all (an empty
    PYTHONTZPATH, as on a slim container) zoneinfo still finds every zone."""
    code = (
        "import zoneinfo; assert zoneinfo.TZPATH == (), zoneinfo.TZPATH\n"
        "from autobot.cron.jobs import CronSchedule\n"
        "from autobot.cron.schedule import next_fire\n"
        "print(next_fire(CronSchedule('0 9 * * *', 'Pacific/Chatham'), 1778408100.0, 'UTC'))"
    )
    env = {**os.environ, "PYTHONTZPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    expected = datetime(2026, 5, 11, 9, tzinfo=ZoneInfo("Pacific/Chatham"))
    assert expected.utcoffset() == timedelta(hours=12, minutes=45)
    assert float(done.stdout) == expected.timestamp()
