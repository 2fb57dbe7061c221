"""Failures a test makes the Bot API fake produce for the next calls of a method.

A `Fault` replaces the normal answer of one call: an error answer (429 with
`retry_after`, a 5xx, "can't parse entities", any status and description), a
stall (the fake sleeps `seconds` of trio time, far longer than any client
timeout, then answers normally if anyone still listens), or a dropped
connection (closed without an answer): see `autobot.testing.faults`.
`FaultPlan` queues them per method (case-insensitive, as the API's method
names are).
"""

from __future__ import annotations

import attrs

from autobot.testing import faults
from autobot.testing.faults import CallFault, FaultKind
from autobot.testing.http_server import HttpResponse
from autobot.testing.telegram.request import ApiError


@attrs.frozen(kw_only=True)
class Fault(CallFault):
    """What one call gets instead of its normal answer."""

    status: int = 0
    description: str = ""
    retry_after: int | None = None

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

    def response(self) -> HttpResponse:
        """The error answer of an ANSWER fault, in the API's envelope."""
        return ApiError(self.status, self.description, retry_after=self.retry_after).response()


@attrs.define
class FaultPlan(faults.FaultPlan[Fault]):
    """Faults waiting for the next calls of each method, in order; the
    method names are case-insensitive."""

    def key(self, method: str) -> str:
        return method.lower()
