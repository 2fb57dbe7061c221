"""When a consumer of workspace events stops following them, and how often it
may re-check the slow way instead (pure).

The pool's dotenv index and the prompt watch follow inotify events one
bounded batch at a time (`Inotify.read_batch`). A command in the sandbox can
make events faster than Python decodes them, so following every one is not
an option. `FloodGauge` says when to stop: the kernel dropped events or more
were queued than one read takes (`EventBatch.overflowed`), or more than
`FloodPolicy.max_events` arrived within one `interval`. The consumer then
assumes that everything changed and re-checks the slow way (a walk, a stat
check) until `calm_at`, instead of reading faster.

`next_walk_at` paces the expensive re-check: a walk that cost `c` seconds
of CPU is followed by at least `rest * c` seconds without one, so under a
sustained flood walks use at most `1 / rest` of a CPU, whatever the size of
the workspace. (CPU, not wall time: on a machine the flood keeps busy, a
walk of five directories can spend 100 ms waiting to run, and resting three
times that would only make the flood's victims wait.)

Times are seconds on clocks the caller injects. Raises ValueError on a
negative count or cost, or a non-positive limit.
"""

from __future__ import annotations

import math

import attrs


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


def _positive_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class FloodPolicy:
    """More than `max_events` within `interval` seconds is a flood; a flood
    lasts until `interval` seconds after the last sign of it."""

    max_events: int = attrs.field(validator=_positive_int)
    interval: float = attrs.field(validator=_positive_seconds)


@attrs.frozen
class FloodGauge:
    """What one consumer has seen: `events` counted since `window_start` (a
    window lasts the policy's interval), and when the flood in progress, if
    any, is over (`calm_at`)."""

    window_start: float = -math.inf
    events: int = 0
    calm_at: float = -math.inf

    def observe(
        self, policy: FloodPolicy, now: float, events: int, *, overflowed: bool
    ) -> FloodGauge:
        """The gauge after a read at `now` that took `events` events, `overflowed`
        when that read was not the whole story (see `EventBatch.overflowed`)."""
        if events < 0:
            raise ValueError(f"an event count cannot be negative, got {events}")
        if now >= self.window_start + policy.interval:
            window_start, counted = now, events
        else:
            window_start, counted = self.window_start, self.events + events
        calm_at = self.calm_at
        if overflowed or counted > policy.max_events:
            calm_at = now + policy.interval
        return FloodGauge(window_start, counted, calm_at)

    def flooded(self, now: float) -> bool:
        """True while the events cannot be trusted to tell what changed."""
        return now < self.calm_at


def next_walk_at(ended: float, cost: float, rest: float) -> float:
    """The earliest start of the next paced walk after one that `ended` then
    and cost `cost` seconds of CPU: `rest` times that cost later."""
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"a walk's cost must be a finite number >= 0, got {cost!r}")
    if not (math.isfinite(rest) and rest >= 0):
        raise ValueError(f"rest must be a finite number >= 0, got {rest!r}")
    return ended + rest * cost
