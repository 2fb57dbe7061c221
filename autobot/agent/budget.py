"""Daily token budgets (spend governance), pure.

A `DailyBudget` counts the tokens (input + output) spent on one UTC day and
says whether another LLM call may start. The day comes from an injected wall
clock (`utc_day(epoch_seconds)`), so tests pick the date. A budget of `None`
is unlimited. Usage is charged after a call, so one call may overshoot the
limit by its own size; the next call is then refused.
"""

from __future__ import annotations

import datetime

import attrs


def utc_day(epoch_seconds: float) -> str:
    """The UTC calendar day of a wall-clock time, as `YYYY-MM-DD`."""
    return datetime.datetime.fromtimestamp(epoch_seconds, datetime.UTC).date().isoformat()


@attrs.define
class DailyBudget:
    """Tokens spent today against an optional daily `limit`."""

    limit: int | None
    day: str = ""
    used: int = 0

    def _roll(self, day: str) -> None:
        if day != self.day:
            self.day, self.used = day, 0

    def exhausted(self, day: str) -> bool:
        """True when `limit` tokens (or more) were already spent on `day`."""
        self._roll(day)
        return self.limit is not None and self.used >= self.limit

    def charge(self, day: str, tokens: int) -> None:
        """Add `tokens` spent on `day`. Raises ValueError on a negative count."""
        if tokens < 0:
            raise ValueError(f"token count must be >= 0, got {tokens}")
        self._roll(day)
        self.used += tokens
