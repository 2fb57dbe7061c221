"""Figures of one round of messages: throughput, wall time, added latency (pure).

A sample is (posted, answered) in seconds of one clock; `answered` is None
for a message whose reply never came within the round. Added latency is
the time from a user's post to the bot's reply minus the model's own
latency: what the gateway (and the Bot API round trips it makes) adds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

Sample = tuple[float, float | None]


@attrs.frozen(kw_only=True)
class RoundFigures:
    """What a round measured. `wall` runs from the first post to the last
    reply; `throughput` is replies per second of `wall`; latencies in seconds."""

    sent: int
    answered: int
    wall: float
    throughput: float
    added_p50: float
    added_p99: float

    @property
    def complete(self) -> bool:
        return self.answered == self.sent


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least
    `fraction` of `values` at or below it. Raises `ValueError` for no values
    or a fraction outside (0, 1]."""
    if not values:
        raise ValueError("a percentile of no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be within (0, 1], got {fraction}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def round_figures(samples: Sequence[Sample], model_latency: float) -> RoundFigures:
    """Figures of `samples`. Raises `ValueError` when no message was answered
    (nothing to measure: the caller reports why)."""
    answered = [(posted, reply) for posted, reply in samples if reply is not None]
    if not answered:
        raise ValueError(f"none of the {len(samples)} messages was answered")
    wall = max(reply for _, reply in answered) - min(posted for posted, _ in samples)
    added = [reply - posted - model_latency for posted, reply in answered]
    return RoundFigures(
        sent=len(samples),
        answered=len(answered),
        wall=wall,
        throughput=len(answered) / wall if wall > 0 else math.inf,
        added_p50=percentile(added, 0.5),
        added_p99=percentile(added, 0.99),
    )
