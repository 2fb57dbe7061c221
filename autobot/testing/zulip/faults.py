"""Failures a test makes the Zulip fake produce for the next calls of an endpoint.

A `Fault` replaces the normal answer of one call: an error answer in
Zulip's JSON (a 429 `RATE_LIMIT_HIT` with `retry-after` in the body, the
`Retry-After` header, or both; a 5xx; any status and code), a stall (the
fake sleeps `seconds` of trio time, then answers normally if anyone still
listens), or a dropped connection (closed without an answer). The shared
kinds and `FaultPlan`, which queues them per endpoint, are in
`autobot.testing.faults`.
"""

from __future__ import annotations

import json

import attrs

from autobot.testing.faults import CallFault, FaultKind
from autobot.testing.http_server import HttpResponse


@attrs.frozen(kw_only=True)
class Fault(CallFault):
    """What one call gets instead of its normal answer."""

    status: int = 0
    code: str = ""
    msg: str = ""
    retry_after_body: float | None = None
    retry_after_header: str | None = None

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
