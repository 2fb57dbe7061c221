"""Failures a test makes the Zulip fake produce for the next calls of an endpoint.

A `Fault` replaces the normal answer of one call: an error answer in
Zulip's JSON (a 429 `RATE_LIMIT_HIT` with `retry-after` in the body, the
`Retry-After` header, or both; a 5xx; any status and code), a stall (the
fake sleeps `seconds` of trio time, then answers normally if anyone still
listens), or a dropped connection (closed without an answer). `FaultPlan`
queues them per endpoint.
"""

from __future__ import annotations

import collections
import enum
import json

import attrs

from autobot.testing.http_server import HttpResponse

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
    code: str = ""
    msg: str = ""
    retry_after_body: float | None = None
    retry_after_header: str | None = None
    seconds: float = 0.0

    @classmethod
    def error(cls, status: int, code: str, msg: str) -> Fault:
        """Any error answer (`{"result": "error", "msg", "code"}`)."""
        if not 400 <= status <= 599:
            raise ValueError(f"an error answer needs a 4xx or 5xx status, not {status}")
        return cls(kind=FaultKind.ANSWER, status=status, code=code, msg=msg)

    @classmethod
    def rate_limited(
        cls, retry_after: float, *, in_body: bool = True, in_header: bool = True
    ) -> Fault:
        """429 RATE_LIMIT_HIT, `retry_after` seconds in the body's
        `retry-after` and/or the `Retry-After` header."""
        if not retry_after > 0 or not (in_body or in_header):
            raise ValueError("a rate limit needs a positive retry_after, in the body or header")
        return cls(
            kind=FaultKind.ANSWER,
            status=429,
            code="RATE_LIMIT_HIT",
            msg="API usage exceeded rate limit",
            retry_after_body=retry_after if in_body else None,
            retry_after_header=f"{retry_after:g}" if in_header else None,
        )

    @classmethod
    def server_error(cls, status: int = 502) -> Fault:
        """A 5xx answer: what nginx says while Zulip restarts (not JSON)."""
        if not 500 <= status <= 599:
            raise ValueError(f"a server error needs a 5xx status, not {status}")
        return cls(kind=FaultKind.ANSWER, status=status)

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

    def response(self) -> HttpResponse:
        """The answer of an ANSWER fault."""
        if not self.code:  # a proxy's page, not Zulip's JSON
            page = f"<html><body><h1>{self.status} Bad Gateway</h1></body></html>"
            return HttpResponse(
                status=self.status, headers={"content-type": "text/html"}, body=page.encode()
            )
        body: dict[str, object] = {"result": "error", "msg": self.msg, "code": self.code}
        if self.retry_after_body is not None:
            body["retry-after"] = self.retry_after_body
        headers = {"content-type": "application/json"}
        if self.retry_after_header is not None:
            headers["retry-after"] = self.retry_after_header
        return HttpResponse(status=self.status, headers=headers, body=json.dumps(body).encode())


@attrs.define
class FaultPlan:
    """Faults waiting for the next calls of each endpoint, in order."""

    queued: dict[str, collections.deque[Fault]] = attrs.field(factory=dict)

    def add(self, endpoint: str, fault: Fault, count: int = 1) -> None:
        """The next `count` calls of `endpoint` get `fault`; raises
        `ValueError` for a count below 1."""
        if count < 1:
            raise ValueError(f"a fault needs a count of at least 1, not {count}")
        self.queued.setdefault(endpoint, collections.deque()).extend([fault] * count)

    def take(self, endpoint: str) -> Fault | None:
        """The fault for this call of `endpoint`, or None to answer normally."""
        queue = self.queued.get(endpoint)
        return queue.popleft() if queue else None
