"""Failures a test makes the Bot API fake produce for the next calls of a method.

A `Fault` replaces the normal answer of one call: an error answer (429 with
`retry_after`, a 5xx, "can't parse entities", any status and description), a
stall (the fake sleeps `seconds` of trio time, far longer than any client
timeout, then answers normally if anyone still listens), or a dropped
connection (closed without an answer). `FaultPlan` queues them per method
(case-insensitive, as the API's method names are).
"""

from __future__ import annotations

import collections
import enum

import attrs

from autobot.testing.telegram.request import ApiError

STALL_SECONDS = 24 * 3600.0  # longer than any client timeout or test deadline


class FaultKind(enum.Enum):
    ANSWER = "answer"  # an error answer instead of the normal one
    STALL = "stall"  # sleep, then the normal answer
    DROP = "drop"  # close the connection without answering


@attrs.frozen(kw_only=True)
class Fault:
    """What one call gets instead of its normal answer."""

    kind: FaultKind
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    seconds: float = 0.0

    @classmethod
    def error(cls, status: int, description: str, *, retry_after: int | None = None) -> Fault:
        """Any error answer; `description` as the API would word it."""
        if not 400 <= status <= 599:
            raise ValueError(f"an error answer needs a 4xx or 5xx status, not {status}")
        return cls(
            kind=FaultKind.ANSWER, status=status, description=description, retry_after=retry_after
        )

    @classmethod
    def too_many_requests(cls, retry_after: int) -> Fault:
        """429 "Too Many Requests: retry after N" with parameters.retry_after = N."""
        if retry_after < 1:
            raise ValueError(f"retry_after must be at least 1 second, not {retry_after}")
        return cls.error(
            429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
        )

    @classmethod
    def server_error(cls, status: int = 500, description: str = "Internal Server Error") -> Fault:
        """A 5xx answer in the API's JSON shape."""
        if not 500 <= status <= 599:
            raise ValueError(f"a server error needs a 5xx status, not {status}")
        return cls.error(status, description)

    @classmethod
    def cant_parse_entities(
        cls, detail: str = 'Unsupported start tag "x" at byte offset 0'
    ) -> Fault:
        """400 "Bad Request: can't parse entities: <detail>" whatever the text was."""
        return cls.error(400, f"Bad Request: can't parse entities: {detail}")

    @classmethod
    def stall(cls, seconds: float = STALL_SECONDS) -> Fault:
        """Answer normally, but only after `seconds` of trio time."""
        if seconds <= 0:
            raise ValueError(f"a stall needs a positive duration, not {seconds}")
        return cls(kind=FaultKind.STALL, seconds=seconds)

    @classmethod
    def dropped_connection(cls) -> Fault:
        """Close the connection without answering."""
        return cls(kind=FaultKind.DROP)

    def api_error(self) -> ApiError:
        """The error answer of an ANSWER fault."""
        return ApiError(self.status, self.description, retry_after=self.retry_after)


@attrs.define
class FaultPlan:
    """Faults waiting for the next calls of each method, in order."""

    queued: dict[str, collections.deque[Fault]] = attrs.field(factory=dict)

    def add(self, method: str, fault: Fault, count: int = 1) -> None:
        """The next `count` calls of `method` get `fault`; raises `ValueError`
        for a count below 1."""
        if count < 1:
            raise ValueError(f"a fault needs a count of at least 1, not {count}")
        self.queued.setdefault(method.lower(), collections.deque()).extend([fault] * count)

    def take(self, method: str) -> Fault | None:
        """The fault for this call of `method`, or None to answer normally."""
        queue = self.queued.get(method.lower())
        return queue.popleft() if queue else None

    def remaining(self, method: str) -> int:
        """How many calls of `method` still get a fault."""
        return len(self.queued.get(method.lower(), ()))
