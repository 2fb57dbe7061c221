"""Restart intensity: "more than N restarts within T seconds" means give up.

`RestartWindow` is an immutable record of recent restarts, each with a payload (the
supervisor stores the failure that caused it); it is a pure function of the times fed in.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class RestartIntensity:
    """At most `max_restarts` restarts in any `within`-second period.

    Raises ValueError on a negative `max_restarts` or a `within` that is not > 0.
    """

    max_restarts: int = 3
    within: float = 5.0

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_restarts, bool) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {self.max_restarts!r}")
        if not (math.isfinite(self.within) and self.within > 0):
            raise ValueError(f"within must be a finite number > 0, got {self.within!r}")


@attrs.frozen
class RestartWindow(Generic[T]):
    """Restarts still inside the intensity period, oldest first.

    A restart at time `t` counts while `now - t < within`; at exactly `within` seconds
    it has expired. `record` returns a new window; `exceeded` is True once it holds
    more than `max_restarts` entries.
    """

    intensity: RestartIntensity
    entries: tuple[tuple[float, T], ...] = ()

    def record(self, now: float, payload: T) -> RestartWindow[T]:
        """This window with a restart at `now` added and expired restarts dropped.

        Raises ValueError if `now` is earlier than the newest recorded restart.
        """
        if self.entries and now < self.entries[-1][0]:
            raise ValueError(f"time went backwards: {now} < {self.entries[-1][0]}")
        within = self.intensity.within
        kept = tuple(entry for entry in self.entries if now - entry[0] < within)
        return attrs.evolve(self, entries=(*kept, (now, payload)))

    @property
    def exceeded(self) -> bool:
        """True when more than `max_restarts` restarts fall inside the period."""
        return len(self.entries) > self.intensity.max_restarts
