"""Failures a test makes the Slack fake produce for the next calls of a Web API method.

A `Fault` replaces the normal answer of one call: an `ok:false` error
(`invalid_auth`, `channel_not_found`...), a rate limit (HTTP 429 with a
`Retry-After` header and the `ratelimited` error, or the error alone in a
200 answer, as some methods do), a server error status, a stall (the fake
sleeps `seconds` of trio time, then answers normally), or a dropped
connection. `FaultPlan` queues them per method.
"""

from __future__ import annotations

import collections
import enum

import attrs

STALL_SECONDS = 24 * 3600.0  # longer than any client timeout or test deadline


class FaultKind(enum.Enum):
    ERROR = "error"  # {"ok": false, "error": ...} with `status`
    STALL = "stall"  # sleep, then the normal answer
    DROP = "drop"  # close the connection without answering


@attrs.frozen(kw_only=True)
class Fault:
    """What one call gets instead of its normal answer."""

    kind: FaultKind
    error: str = ""
    status: int = 200
    retry_after: int | None = None
    seconds: float = 0.0

    @classmethod
    def slack_error(cls, error: str, *, status: int = 200) -> Fault:
        """`{"ok": false, "error": error}` (Slack answers most errors with 200)."""
        return cls(kind=FaultKind.ERROR, error=error, status=status)

    @classmethod
    def rate_limited(cls, retry_after: int | None, *, status: int = 429) -> Fault:
        """The `ratelimited` error, with a `Retry-After: <retry_after>` header
        unless None; HTTP 429 unless `status` says otherwise."""
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, not {retry_after}")
        return cls(
            kind=FaultKind.ERROR, error="ratelimited", status=status, retry_after=retry_after
        )

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        """An HTTP 5xx with an HTML body (what a failing edge answers)."""
        if not 500 <= status <= 599:
            raise ValueError(f"a server error needs a 5xx status, not {status}")
        return cls(kind=FaultKind.ERROR, status=status)

    @classmethod
    def stall(cls, seconds: float = STALL_SECONDS) -> Fault:
        if seconds <= 0:
            raise ValueError(f"a stall needs a positive duration, not {seconds}")
        return cls(kind=FaultKind.STALL, seconds=seconds)

    @classmethod
    def dropped_connection(cls) -> Fault:
        return cls(kind=FaultKind.DROP)


@attrs.define
class FaultPlan:
    """Faults waiting for the next calls of each method, in order."""

    queued: dict[str, collections.deque[Fault]] = attrs.field(factory=dict)

    def add(self, method: str, fault: Fault, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"a fault needs a count of at least 1, not {count}")
        self.queued.setdefault(method, collections.deque()).extend([fault] * count)

    def take(self, method: str) -> Fault | None:
        queue = self.queued.get(method)
        return queue.popleft() if queue else None
