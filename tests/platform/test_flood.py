"""The flood gauge and the walk pacing (pure): exact times, no trio, no kernel."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.platform.flood import FloodGauge, FloodPolicy, next_walk_at

POLICY = FloodPolicy(max_events=100, interval=1.0)


def test_events_within_the_limit_are_followed() -> None:
    gauge = FloodGauge().observe(POLICY, 10.0, 60, overflowed=False)
    gauge = gauge.observe(POLICY, 10.5, 40, overflowed=False)
    assert gauge == FloodGauge(window_start=10.0, events=100, calm_at=-math.inf)
    assert not gauge.flooded(10.5)


def test_one_event_over_the_limit_within_the_interval_is_a_flood_for_an_interval() -> None:
    gauge = FloodGauge().observe(POLICY, 10.0, 100, overflowed=False)
    gauge = gauge.observe(POLICY, 10.9, 1, overflowed=False)
    assert gauge.calm_at == 11.9
    assert gauge.flooded(10.9) and gauge.flooded(11.899)
    assert not gauge.flooded(11.9)


def test_a_new_window_starts_the_count_again() -> None:
    gauge = FloodGauge().observe(POLICY, 10.0, 100, overflowed=False)
    gauge = gauge.observe(POLICY, 11.0, 100, overflowed=False)  # exactly one interval later
    assert gauge == FloodGauge(window_start=11.0, events=100, calm_at=-math.inf)


def test_an_overflowed_read_is_a_flood_whatever_the_count() -> None:
    gauge = FloodGauge().observe(POLICY, 5.0, 3, overflowed=True)
    assert gauge.calm_at == 6.0 and gauge.flooded(5.5)


def test_every_new_sign_of_a_flood_moves_the_calm_further() -> None:
    gauge = FloodGauge().observe(POLICY, 5.0, 0, overflowed=True)
    gauge = gauge.observe(POLICY, 5.8, 0, overflowed=True)
    assert gauge.calm_at == 6.8
    quiet = gauge.observe(POLICY, 6.9, 0, overflowed=False)
    assert quiet.calm_at == 6.8 and not quiet.flooded(6.9)


@pytest.mark.parametrize(
    ("max_events", "interval", "message"),
    [
        (0, 1.0, "max_events must be at least 1, got 0"),
        (10, 0.0, "interval must be a finite number > 0, got 0.0"),
        (10, math.inf, "interval must be a finite number > 0, got inf"),
        (10, math.nan, "interval must be a finite number > 0, got nan"),
    ],
)
def test_a_bad_policy_is_refused(max_events: int, interval: float, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        FloodPolicy(max_events=max_events, interval=interval)
    assert str(refused.value) == message


def test_a_negative_count_is_refused_and_changes_nothing() -> None:
    gauge = FloodGauge().observe(POLICY, 1.0, 5, overflowed=False)
    with pytest.raises(ValueError) as refused:
        gauge.observe(POLICY, 1.5, -1, overflowed=False)
    assert str(refused.value) == "an event count cannot be negative, got -1"
    assert gauge == FloodGauge(window_start=1.0, events=5, calm_at=-math.inf)


def test_a_walk_rests_three_times_its_cpu_cost() -> None:
    assert next_walk_at(ended=20.0, cost=0.25, rest=3.0) == 20.75
    assert next_walk_at(ended=20.0, cost=0.0, rest=3.0) == 20.0


@pytest.mark.parametrize(
    ("cost", "rest", "message"),
    [
        (-0.1, 3.0, "a walk's cost must be a finite number >= 0, got -0.1"),
        (math.nan, 3.0, "a walk's cost must be a finite number >= 0, got nan"),
        (0.1, -1.0, "rest must be a finite number >= 0, got -1.0"),
        (0.1, math.inf, "rest must be a finite number >= 0, got inf"),
    ],
)
def test_bad_pacing_inputs_are_refused(cost: float, rest: float, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        next_walk_at(ended=1.0, cost=cost, rest=rest)
    assert str(refused.value) == message


reads = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0, allow_nan=False),  # seconds since the last read
        st.integers(min_value=0, max_value=150),
        st.booleans(),
    ),
    max_size=40,
)


@given(reads)
def test_the_gauge_is_flooded_exactly_when_a_window_overflowed_within_an_interval(
    steps: list[tuple[float, int, bool]],
) -> None:
    """Against a plain re-computation: fixed windows opened by the first read
    after the previous one ended; flooded until an interval after the last read
    that overflowed or pushed its window past the limit."""
    gauge, now = FloodGauge(), 0.0
    window_start, counted, last_sign = -math.inf, 0, -math.inf
    for gap, events, overflowed in steps:
        now += gap
        gauge = gauge.observe(POLICY, now, events, overflowed=overflowed)
        if now >= window_start + POLICY.interval:
            window_start, counted = now, 0
        counted += events
        if overflowed or counted > POLICY.max_events:
            last_sign = now
        assert gauge.flooded(now) == (now < last_sign + POLICY.interval)
        assert gauge.events == counted
