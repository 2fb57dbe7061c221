"""Zulip's answers: the JSON envelope and one error hierarchy (pure).

Every Zulip REST answer is a JSON object with `"result": "success"` (the
data sits beside it) or `"result": "error"` with a human `msg` and a
machine `code` (`BAD_REQUEST`, `BAD_EVENT_QUEUE_ID`, `RATE_LIMIT_HIT`,
`INVALID_API_KEY`, `UNAUTHORIZED`, `USER_DEACTIVATED`...). `answer_data`
reads an answer: the object of a success, or the `ZulipError` an error
stands for, by HTTP status and code:

- `Unauthorized`: 401 (wrong email or API key, deactivated bot or
  organization): permanent until the operator fixes the credentials;
- `RateLimited`: 429 (`RATE_LIMIT_HIT`), waiting `retry_after` seconds: the
  body's `retry-after` (a float) or the `Retry-After` header, the longer of
  the two when both are given;
- `QueueGone`: `BAD_EVENT_QUEUE_ID`, the event queue expired or is unknown:
  register a new one;
- `BadRequest`: any other 4xx (permanent for that request);
- `ServerError`: 5xx, also without a JSON body (a proxy's error page);
- `NetworkTrouble`: no usable answer (the client adds no answer at all).

The client adds `FileTooLarge` for a download beyond its cap.
`is_transient(exc)` separates what a channel cools down from and retries
(network, 5xx, 429) from what retrying cannot fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


class ZulipError(Exception):
    """A Zulip call failed. `status` is the HTTP status (0 when nothing
    answered), `code` Zulip's error code ("" when there is none), `msg` its
    text (scrubbed of the API key), `endpoint` the call; `retry_after`
    (seconds) comes with a 429."""

    def __init__(
        self,
        status: int,
        msg: str,
        *,
        code: str = "",
        endpoint: str = "",
        retry_after: float | None = None,
    ) -> None:
        where = f"Zulip {endpoint}" if endpoint else "Zulip"
        status_text = f"{status} " if status else ""
        code_text = f"{code}: " if code else ""
        super().__init__(f"{where}: {status_text}{code_text}{msg}")
        self.status = status
        self.msg = msg
        self.code = code
        self.endpoint = endpoint
        self.retry_after = retry_after


class Unauthorized(ZulipError):
    """401: the bot's email or API key was refused (or the bot was deactivated)."""


class RateLimited(ZulipError):
    """429 RATE_LIMIT_HIT: wait `retry_after` seconds (when given)."""


class QueueGone(ZulipError):
    """BAD_EVENT_QUEUE_ID: the event queue expired or is unknown."""


class BadRequest(ZulipError):
    """Another 4xx: the request itself was refused."""


class ServerError(ZulipError):
    """5xx: the server (or a proxy in front of it) failed."""


class NetworkTrouble(ZulipError):
    """No usable answer: connection failure, no answer in time, or a body
    that is not Zulip's JSON."""


class FileTooLarge(ZulipError):
    """A file larger than the caller accepts; refused before it was read in full."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later may succeed: network trouble, 5xx, 429."""
    return isinstance(exc, NetworkTrouble | ServerError | RateLimited)


def seconds(value: object) -> float | None:
    """A retry-after value as seconds: a non-negative finite number, or the
    text of one (a header); None for anything else (an HTTP date included)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def answer_data(
    endpoint: str,
    status: int,
    body: bytes,
    retry_after_header: str | None,
    scrub: Callable[[str], str],
) -> dict[str, Any]:
    """The object of a successful answer to `endpoint`; raises the
    `ZulipError` an error answer stands for (its `msg` passed through
    `scrub`), `ServerError` for a 5xx without Zulip's JSON, `NetworkTrouble`
    for anything else that is not Zulip's JSON."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    result = answer.get("result") if isinstance(answer, dict) else None
    if isinstance(answer, dict) and result == "success" and status == 200:
        return answer
    if not isinstance(answer, dict) or result != "error":
        if status >= 500:
            raise ServerError(status, "an answer that is not Zulip's JSON", endpoint=endpoint)
        if status == 401:  # a proxy's own page for the refused credentials
            raise Unauthorized(status, "the credentials were refused", endpoint=endpoint)
        raise NetworkTrouble(0, f"HTTP {status} answer that is not Zulip's JSON", endpoint=endpoint)
    msg = answer.get("msg")
    code = answer.get("code")
    text = scrub(msg) if isinstance(msg, str) else "no message"
    code_text = scrub(code) if isinstance(code, str) else ""
    if status == 429 or code_text == "RATE_LIMIT_HIT":
        given = (seconds(answer.get("retry-after")), seconds(retry_after_header))
        waits = [wait for wait in given if wait is not None]
        raise RateLimited(
            status,
            text,
            code=code_text,
            endpoint=endpoint,
            retry_after=max(waits) if waits else None,
        )
    kind = _error_class(status, code_text)
    raise kind(status, text, code=code_text, endpoint=endpoint)


def _error_class(status: int, code: str) -> type[ZulipError]:
    if status == 401:
        return Unauthorized
    if code == "BAD_EVENT_QUEUE_ID":
        return QueueGone
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return BadRequest
    return NetworkTrouble  # an error body with a 2xx or 3xx status
