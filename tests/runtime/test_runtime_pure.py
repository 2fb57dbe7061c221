"""Pure kernel functions, tested without trio: backoff, intensity window, policies, specs."""

from __future__ import annotations

import math
import random
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runtime_helpers import FixedRandom

from autobot.runtime import (
    BackoffPolicy,
    ChildFailure,
    ChildSpec,
    EnvironmentalFailure,
    Restart,
    RestartIntensity,
    RestartWindow,
    Strategy,
    SupervisorGaveUp,
    attempt_after,
    backoff_delay,
    is_environmental,
    restart_group,
    should_restart,
)

# ---- backoff -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "expected"),
    [
        (0, 1.0, 100.0, 0.5),
        (1, 1.0, 100.0, 1.0),
        (2, 1.0, 100.0, 2.0),
        (6, 1.0, 100.0, 32.0),
        (7, 1.0, 100.0, 50.0),  # 128 is capped at 100
        (5000, 1.0, 100.0, 50.0),  # no float overflow for huge attempts
        (3, 0.0, 100.0, 0.0),
    ],
)
def test_backoff_is_half_the_ceiling_when_the_draw_is_half(
    attempt: int, base: float, cap: float, expected: float
) -> None:
    assert backoff_delay(attempt, base, cap, FixedRandom(0.5)) == expected


def test_backoff_draws_exactly_once_from_the_injected_rng() -> None:
    rng, twin = random.Random(42), random.Random(42)
    delay = backoff_delay(3, 0.25, 10.0, rng)
    assert delay == twin.uniform(0.0, 2.0)
    assert rng.random() == twin.random()  # both advanced by exactly one draw


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0, max_value=1e6),
    cap=st.floats(min_value=0, max_value=1e6),
    seed=st.integers(),
)
def test_backoff_stays_within_full_jitter_bounds(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempt, base, cap, random.Random(seed))
    ceiling = cap if attempt > 1023 else min(cap, base * 2.0**attempt)
    assert 0.0 <= delay <= ceiling <= cap


@pytest.mark.parametrize(
    ("attempt", "base", "cap"),
    [(-1, 1.0, 1.0), (0, -1.0, 1.0), (0, 1.0, -1.0), (0, math.inf, 1.0), (0, 1.0, math.nan)],
)
def test_backoff_rejects_bad_input(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt, base, cap, random.Random(0))


@pytest.mark.parametrize(
    ("previous", "uptime", "healthy_after", "expected"),
    [(4, 10.0, 60.0, 4), (4, 60.0, 60.0, 4), (4, 60.5, 60.0, 0), (0, 0.0, 0.0, 0)],
)
def test_attempt_resets_only_after_a_healthy_period(
    previous: int, uptime: float, healthy_after: float, expected: int
) -> None:
    assert attempt_after(previous, uptime, healthy_after) == expected


@pytest.mark.parametrize(
    "kwargs",
    [{"base": -1.0}, {"cap": math.inf}, {"healthy_after": -0.1}, {"cooldown": 0.0}],
)
def test_backoff_policy_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**kwargs)


# ---- intensity ---------------------------------------------------------------------


def test_window_is_exceeded_by_one_restart_more_than_allowed() -> None:
    window: RestartWindow[str] = RestartWindow(RestartIntensity(max_restarts=2, within=10.0))
    window = window.record(0.0, "a").record(1.0, "b")
    assert not window.exceeded
    window = window.record(9.0, "c")
    assert window.exceeded
    assert [payload for _, payload in window.entries] == ["a", "b", "c"]


def test_a_restart_exactly_within_seconds_old_has_expired() -> None:
    window: RestartWindow[str] = RestartWindow(RestartIntensity(max_restarts=1, within=10.0))
    window = window.record(0.0, "old").record(10.0, "new")
    assert window.entries == ((10.0, "new"),)
    assert not window.exceeded


def test_zero_max_restarts_gives_up_on_the_first_restart() -> None:
    window: RestartWindow[None] = RestartWindow(RestartIntensity(max_restarts=0, within=1.0))
    assert window.record(5.0, None).exceeded


def test_window_rejects_time_going_backwards() -> None:
    window: RestartWindow[None] = RestartWindow(RestartIntensity())
    window = window.record(5.0, None)
    with pytest.raises(ValueError, match="backwards"):
        window.record(4.0, None)


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=30),
    max_restarts=st.integers(min_value=0, max_value=5),
    within=st.floats(min_value=0.1, max_value=30),
)
def test_window_keeps_exactly_the_restarts_inside_the_period(
    gaps: list[float], max_restarts: int, within: float
) -> None:
    times: list[float] = []
    now = 0.0
    window: RestartWindow[int] = RestartWindow(
        RestartIntensity(max_restarts=max_restarts, within=within)
    )
    for index, gap in enumerate(gaps):
        now += gap
        times.append(now)
        window = window.record(now, index)
    inside = [t for t in times if now - t < within]
    assert [t for t, _ in window.entries] == inside
    assert window.exceeded == (len(inside) > max_restarts)


@pytest.mark.parametrize(
    "kwargs", [{"max_restarts": -1}, {"within": 0.0}, {"within": math.inf}, {"max_restarts": True}]
)
def test_intensity_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartIntensity(**kwargs)  # type: ignore[arg-type]


# ---- restart policy ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "failed", "expected"),
    [
        (Restart.PERMANENT, True, True),
        (Restart.PERMANENT, False, True),
        (Restart.TRANSIENT, True, True),
        (Restart.TRANSIENT, False, False),
        (Restart.TEMPORARY, True, False),
        (Restart.TEMPORARY, False, False),
    ],
)
def test_should_restart(restart: Restart, failed: bool, expected: bool) -> None:
    assert should_restart(restart, failed=failed) is expected


@pytest.mark.parametrize(
    ("strategy", "failed", "expected"),
    [
        (Strategy.ONE_FOR_ONE, "b", ("b",)),
        (Strategy.ONE_FOR_ALL, "b", ("a", "b", "c")),
        (Strategy.REST_FOR_ONE, "b", ("b", "c")),
        (Strategy.REST_FOR_ONE, "a", ("a", "b", "c")),
        (Strategy.REST_FOR_ONE, "c", ("c",)),
    ],
)
def test_restart_group(strategy: Strategy, failed: str, expected: tuple[str, ...]) -> None:
    assert restart_group(strategy, ["a", "b", "c"], failed) == expected


def test_restart_group_rejects_an_unknown_child() -> None:
    with pytest.raises(ValueError, match="unknown child"):
        restart_group(Strategy.ONE_FOR_ALL, ["a"], "zz")


# ---- failure classes ---------------------------------------------------------------


class _ChatDown(EnvironmentalFailure):
    pass


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionResetError(), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (socket.gaierror(-2, "Name or service not known"), True),
        (_ChatDown("telegram unreachable"), True),
        (FileNotFoundError("config"), False),  # local misconfiguration escalates
        (PermissionError(), False),
        (ValueError(), False),
        (KeyError("x"), False),
        (ExceptionGroup("all net", [ConnectionResetError(), TimeoutError()]), True),
        (ExceptionGroup("mixed", [ConnectionResetError(), ValueError()]), False),
    ],
)
def test_default_environmental_classifier(error: BaseException, expected: bool) -> None:
    assert is_environmental(error) is expected


def test_gave_up_names_every_failure() -> None:
    failures = (
        ChildFailure(time=1.0, child_id="a", error=ValueError("x")),
        ChildFailure(time=2.0, child_id="b", error=None),
    )
    message = str(SupervisorGaveUp("root", failures))
    assert "root" in message and "a: ValueError('x')" in message and "b: returned" in message


# ---- specs -------------------------------------------------------------------------


def _factory(env: object) -> object:
    raise AssertionError("never built")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": ""}, "non-empty"),
        ({"id": "   "}, "non-empty"),
        ({"shutdown_grace": -1.0}, "shutdown_grace"),
        ({"shutdown_grace": math.inf}, "shutdown_grace"),
        ({"mailbox_size": -1}, "mailbox_size"),
        ({"mailbox_size": True}, "mailbox_size"),
        ({"mailbox_size": 1.5}, "mailbox_size"),
    ],
)
def test_child_spec_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"id": "x", "factory": _factory} | kwargs
    with pytest.raises(ValueError, match=message):
        ChildSpec(**fields)  # type: ignore[arg-type]
