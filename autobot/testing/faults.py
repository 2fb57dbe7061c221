"""Failures a test makes a loopback fake produce instead of answering a call.

What every fake shares (`testing.telegram.faults` and `testing.zulip.faults`
word their own error answers): a fault replaces the normal answer of one
call with an error answer, a stall (the fake sleeps `seconds` of trio time,
far longer than any client timeout, then answers normally if anyone still
listens) or a dropped connection (closed without an answer). A `FaultPlan`
queues faults for the next calls of each method; `instead_of_answer` is how
a fake applies the one it took.
"""

from __future__ import annotations

import abc
import collections
import enum
from typing import Generic, Self, TypeVar

import attrs
import trio

from autobot.testing.http_server import HttpResponse

STALL_SECONDS = 24 * 3600.0  # longer than any client timeout or test deadline


class FaultKind(enum.Enum):
    ANSWER = "answer"  # an error answer instead of the normal one
    STALL = "stall"  # sleep, then the normal answer
    DROP = "drop"  # close the connection without answering


@attrs.frozen(kw_only=True)
class CallFault(abc.ABC):
    """What one call gets instead of its normal answer; a platform's `Fault`
    adds the fields and constructors of its error answers."""

    kind: FaultKind
    seconds: float = 0.0

    @classmethod
    def stall(cls, seconds: float = STALL_SECONDS) -> Self:
        """Answer normally, but only after `seconds` of trio time."""
        if seconds <= 0:
            raise ValueError(f"a stall needs a positive duration, not {seconds}")
        return cls(kind=FaultKind.STALL, seconds=seconds)

    @classmethod
    def dropped_connection(cls) -> Self:
        """Close the connection without answering."""
        return cls(kind=FaultKind.DROP)

    @abc.abstractmethod
    def response(self) -> HttpResponse:
        """The error answer of an ANSWER fault, as the platform words it."""


F = TypeVar("F", bound=CallFault)


@attrs.define
class FaultPlan(Generic[F]):
    """Faults waiting for the next calls of each method, in order. A plan
    whose method names are case-insensitive overrides `key`."""

    queued: dict[str, collections.deque[F]] = attrs.field(factory=dict)

    def add(self, method: str, fault: F, count: int = 1) -> None:
        """The next `count` calls of `method` get `fault`; raises `ValueError`
        for a count below 1."""
        if count < 1:
            raise ValueError(f"a fault needs a count of at least 1, not {count}")
        self.queued.setdefault(self.key(method), collections.deque()).extend([fault] * count)

    def take(self, method: str) -> F | None:
        """The fault for this call of `method`, or None to answer normally."""
        queue = self.queued.get(self.key(method))
        return queue.popleft() if queue else None

    def remaining(self, method: str) -> int:
        """How many calls of `method` still get a fault."""
        return len(self.queued.get(self.key(method), ()))

    def key(self, method: str) -> str:
        """What `method` is filed under."""
        return method


async def instead_of_answer(fault: CallFault | None) -> HttpResponse | None:
    """Apply `fault`: the response to send instead of the normal answer (an
    error answer, a dropped connection), or None to answer normally (at once,
    or after a stall)."""
    if fault is None:
        return None
    if fault.kind is FaultKind.DROP:
        return HttpResponse.dropped()
    if fault.kind is FaultKind.ANSWER:
        return fault.response()
    await trio.sleep(fault.seconds)
    return None
