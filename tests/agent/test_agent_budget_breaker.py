"""Daily budgets and the repeat breaker: pure, no trio."""

from __future__ import annotations

import pytest

from autobot.agent.breaker import RepeatBreaker
from autobot.agent.budget import DailyBudget, utc_day


def test_utc_day() -> None:
    assert utc_day(0) == "1970-01-01"
    assert utc_day(86_399.9) == "1970-01-01"
    assert utc_day(86_400) == "1970-01-02"


def test_budget_exhausts_and_rolls_over_at_midnight() -> None:
    budget = DailyBudget(limit=100)
    assert not budget.exhausted("2026-01-01")
    budget.charge("2026-01-01", 60)
    assert not budget.exhausted("2026-01-01")
    budget.charge("2026-01-01", 45)
    assert budget.exhausted("2026-01-01")
    assert not budget.exhausted("2026-01-02")
    assert budget.used == 0


def test_unlimited_budget_never_exhausts() -> None:
    budget = DailyBudget(limit=None)
    budget.charge("d", 10**12)
    assert not budget.exhausted("d")


def test_negative_charge_is_refused_and_changes_nothing() -> None:
    budget = DailyBudget(limit=10)
    budget.charge("d", 3)
    with pytest.raises(ValueError, match="must be >= 0"):
        budget.charge("d", -5)
    assert budget.used == 3


def test_breaker_trips_on_third_identical_call() -> None:
    breaker = RepeatBreaker(limit=3)
    assert not breaker.observe("exec", {"command": "ls", "timeout": 5})
    assert not breaker.observe("exec", {"timeout": 5, "command": "ls"})  # key order ignored
    assert breaker.observe("exec", {"command": "ls", "timeout": 5})


@pytest.mark.parametrize(
    "calls",
    [
        [("exec", {"command": "ls"}), ("exec", {"command": "pwd"}), ("exec", {"command": "ls"})],
        [("read_file", {"path": "a"}), ("list_dir", {"path": "a"}), ("read_file", {"path": "a"})],
        [("exec", {"command": "ls"})] * 2 + [("exec", {"command": "ls -a"})],
    ],
)
def test_breaker_needs_consecutive_identical_calls(calls: list[tuple[str, dict[str, str]]]) -> None:
    breaker = RepeatBreaker(limit=3)
    assert not any(breaker.observe(name, args) for name, args in calls)
