"""Restart delays: exponential backoff with full jitter, healthy-period reset, cool-down.

Pure functions of their inputs; randomness comes from an injected `random.Random`.
"""

from __future__ import annotations

import math
import random

import attrs

# 2.0 ** 1024 overflows a float; any attempt this large is capped anyway.
_MAX_EXPONENT = 1023


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before restart number `attempt` (0-based), with full jitter.

    Uniform in [0, min(cap, base * 2**attempt)] ("full jitter"), drawn from `rng`
    (exactly one draw). Raises ValueError on a negative attempt, base or cap.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if not (base >= 0 and cap >= 0 and math.isfinite(base) and math.isfinite(cap)):
        raise ValueError(f"base and cap must be finite and >= 0, got {base!r}, {cap!r}")
    ceiling = cap if attempt > _MAX_EXPONENT else min(cap, base * 2.0**attempt)
    return rng.uniform(0.0, ceiling)


def attempt_after(previous_attempt: int, uptime: float, healthy_after: float) -> int:
    """The backoff attempt to use for the next restart of a child.

    A child that stayed up longer than `healthy_after` seconds starts again from 0;
    otherwise the count continues from `previous_attempt`.
    """
    return 0 if uptime > healthy_after else previous_attempt


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class BackoffPolicy:
    """How long a supervisor waits before restarting a child.

    Local failures (bugs) wait `backoff_delay(attempt, base, cap, rng)`; the attempt
    resets after a child stayed up more than `healthy_after` seconds. Environmental
    failures (network down, ...) wait the fixed `cooldown` instead and do not advance
    the attempt. Raises ValueError on negative or non-finite values or a zero cool-down.
    """

    base: float = attrs.field(default=0.5, validator=_non_negative)
    cap: float = attrs.field(default=30.0, validator=_non_negative)
    healthy_after: float = attrs.field(default=60.0, validator=_non_negative)
    cooldown: float = attrs.field(default=30.0, validator=_positive)
