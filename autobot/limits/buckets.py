"""Token buckets: the pure core of per-session and global rate limiting.

A `TokenBucket` holds up to `capacity` tokens and refills continuously at
`capacity / window_seconds` tokens per second; one call costs one token. It
is a plain object of its inputs and of `now` (a monotonic time the caller
passes, e.g. `trio.current_time()`), so it is tested without trio.

`SessionLimits` groups the buckets of one session (checklist section 9): LLM
calls, tool calls, and per-tool limits. Each session has its own, so one
session exhausting its limits never slows another. `SessionLimitsKeeper`
keeps a session's buckets between agent actor incarnations and between
session router incarnations (the gateway owns it, the router lends from it):
a session that stops when idle or crashes, or whose router crashed, comes
back with the buckets it left, so neither a short idle timeout nor a crash
can multiply its limits.
"""

from __future__ import annotations

import attrs

from autobot.config.schema import RateLimit, RateLimitConfig

# Float slack when comparing refilled tokens with a whole token.
_EPSILON = 1e-9


@attrs.define
class TokenBucket:
    """At most `capacity` calls in any `window_seconds`, refilled continuously.

    Starts full at `updated`. `now` values earlier than the last update are
    treated as the last update (no refill, never a negative one).
    """

    capacity: int
    window_seconds: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, limit: RateLimit, now: float) -> TokenBucket:
        """A bucket for `limit`, full at time `now`. Raises ValueError on a
        non-positive capacity or window."""
        if limit.max_calls < 1 or limit.window_seconds <= 0:
            raise ValueError(
                f"rate limit needs max_calls >= 1 and window_seconds > 0, got {limit!r}"
            )
        return cls(limit.max_calls, limit.window_seconds, float(limit.max_calls), now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        # Multiply before dividing so whole-token refills are exact in float.
        self.tokens = min(
            float(self.capacity), self.tokens + elapsed * self.capacity / self.window_seconds
        )
        self.updated = max(self.updated, now)

    def retry_after(self, now: float) -> float:
        """Seconds until one token is available (0.0 when one is now)."""
        self._refill(now)
        missing = 1.0 - self.tokens
        if missing <= _EPSILON:
            return 0.0
        return missing * self.window_seconds / self.capacity

    def take(self, now: float) -> None:
        """Spend one token; the caller checked `retry_after(now) == 0`."""
        self._refill(now)
        self.tokens = max(0.0, self.tokens - 1.0)

    def is_full(self, now: float) -> bool:
        """Whether the bucket has refilled to `capacity` by `now` (then it is
        indistinguishable from a fresh one)."""
        self._refill(now)
        return self.tokens >= self.capacity - _EPSILON

    def try_take(self, now: float) -> float:
        """Spend one token if available: returns 0.0 when taken, otherwise the
        seconds to wait before retrying (the bucket is left unchanged)."""
        wait = self.retry_after(now)
        if wait == 0.0:
            self.take(now)
        return wait


@attrs.frozen
class RateLimited:
    """A refused call: which limit (`llm`, `tools`, `tool:exec`...) and for how long."""

    scope: str
    retry_after: float

    def describe(self) -> str:
        return f"rate limit reached ({self.scope}); retry in {self.retry_after:.0f}s"


@attrs.define
class SessionLimits:
    """The buckets of one session: LLM calls, all tool calls, and per-tool calls."""

    llm: TokenBucket
    tools: TokenBucket
    per_tool: dict[str, TokenBucket]

    def is_full(self, now: float) -> bool:
        """Whether every bucket has refilled by `now` (nothing worth keeping)."""
        buckets = (self.llm, self.tools, *self.per_tool.values())
        return all(bucket.is_full(now) for bucket in buckets)

    @classmethod
    def from_config(cls, config: RateLimitConfig, now: float) -> SessionLimits:
        return cls(
            llm=TokenBucket.full(config.llm, now),
            tools=TokenBucket.full(config.tools, now),
            per_tool={name: TokenBucket.full(lim, now) for name, lim in config.per_tool.items()},
        )

    def take_tool(self, name: str, now: float) -> RateLimited | None:
        """Spend one call of tool `name` from both the tools bucket and its own
        bucket (if it has one); nothing is spent unless both allow it."""
        own = self.per_tool.get(name)
        own_wait = own.retry_after(now) if own is not None else 0.0
        if own_wait:
            return RateLimited(f"tool:{name}", own_wait)
        all_wait = self.tools.retry_after(now)
        if all_wait:
            return RateLimited("tools", all_wait)
        self.tools.take(now)
        if own is not None:
            own.take(now)
        return None


# Kept entries are swept for refilled ones whenever their number doubles, so the
# sweep costs O(1) per release, amortised; never below this many.
_MIN_SWEEP = 64


@attrs.define
class SessionLimitsKeeper:
    """Each session's `SessionLimits`, across agent actor incarnations and
    session router incarnations.

    `checkout(key, now)` lends the buckets the session has (fresh, full ones
    for a session it does not know); `release(key, limits, now)` takes them
    back when an incarnation ends. Lent buckets stay here while they are
    used, so an incarnation that ends without a release (its router crashed)
    leaves them as they were for the next one. Buckets that are full again
    and not lent are dropped (a fresh set is identical), so only sessions
    that used their limits recently cost memory; the rest are swept out as
    they refill.
    """

    config: RateLimitConfig
    _kept: dict[str, SessionLimits] = attrs.field(factory=dict)
    _lent: set[str] = attrs.field(factory=set)
    _sweep_at: int = _MIN_SWEEP

    def __len__(self) -> int:
        return len(self._kept)

    def checkout(self, key: str, now: float) -> SessionLimits:
        limits = self._kept.get(key)
        if limits is None:
            limits = self._kept[key] = SessionLimits.from_config(self.config, now)
        self._lent.add(key)
        return limits

    def release(self, key: str, limits: SessionLimits, now: float) -> None:
        self._lent.discard(key)
        if limits.is_full(now):
            self._kept.pop(key, None)
            return
        self._kept[key] = limits
        if len(self._kept) >= self._sweep_at:
            self._kept = {
                k: v for k, v in self._kept.items() if k in self._lent or not v.is_full(now)
            }
            self._sweep_at = max(_MIN_SWEEP, 2 * len(self._kept))
