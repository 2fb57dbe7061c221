"""The Slack Web API's answers: the `{"ok": ...}` envelope and one error hierarchy (pure).

`answer_result` reads an answer: the object of `{"ok": true, ...}`, or the
`SlackError` an error answer stands for:

- `AuthFailed`: `invalid_auth`, `not_authed`, `account_inactive`,
  `token_revoked`, `token_expired`, `not_allowed_token_type` (a token of the
  wrong kind): retrying cannot help, the operator must fix the token;
- `RateLimited`: HTTP 429 or the `ratelimited` error, with the seconds of its
  `Retry-After` header when Slack sent one;
- `ServerError`: HTTP 5xx, or `internal_error`, `fatal_error`,
  `service_unavailable`, `request_timeout`;
- any other error code: `SlackError` itself (permanent: `channel_not_found`,
  `not_in_channel`, `msg_too_long`, `missing_scope`...).

An answer that is not Slack's JSON is `NetworkTrouble` (or `ServerError`
with a 5xx status). The client adds `NetworkTrouble` for no answer at all,
`FileTooLarge` for a download beyond its cap and `Refused` for a URL it will
not send the token to. `is_transient(exc)` separates what a channel waits
out and retries (network, 5xx, rate limits) from what retrying cannot fix.

Error codes are Slack's own words (`[a-z0-9_.]`); anything else a server
says is replaced, so an error's text never carries what a server chose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
RATE_LIMITED = "ratelimited"
MAX_RETRY_AFTER_DIGITS = 6  # a Retry-After beyond ~11 days is nonsense: ignored

_ERROR_CODE = re.compile(r"[a-z0-9_.]{1,64}")


class SlackError(Exception):
    """A Web API call failed. `error` is Slack's error code (or a word of the
    client's for a failure without one), `method` the call, `status` the HTTP
    status (0 when nothing answered), `retry_after` the seconds Slack asked to
    wait (429), `detail` a log-safe explanation from the client."""

    def __init__(
        self,
        error: str,
        *,
        method: str,
        status: int = 200,
        retry_after: float | None = None,
        detail: str = "",
    ) -> None:
        http = f" (HTTP {status})" if status not in (0, 200) else ""
        text = f"Slack {method}: {error}{http}"
        super().__init__(f"{text}: {detail}" if detail else text)
        self.error = error
        self.method = method
        self.status = status
        self.retry_after = retry_after
        self.detail = detail


class AuthFailed(SlackError):
    """The token was refused (see `AUTH_ERRORS`): permanent until the operator fixes it."""


class RateLimited(SlackError):
    """429 or `ratelimited`: wait `retry_after` seconds (when given) and try again."""


class ServerError(SlackError):
    """Slack failed (5xx or an internal error code): try again later."""


class NetworkTrouble(SlackError):
    """No usable answer: connection failure, no answer in time, or a body that
    is not the Web API's JSON."""


class FileTooLarge(SlackError):
    """A file larger than the caller accepts; refused before it was read in full."""


class Refused(SlackError):
    """The client refused to follow a URL (not https to a Slack host, too many
    redirects): the token never went there. Permanent."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later may succeed: network trouble, 5xx, rate limits."""
    return isinstance(exc, NetworkTrouble | ServerError | RateLimited)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The `Retry-After` header as seconds (Slack sends an integer), or None."""
    value = headers.get("retry-after", "").strip()
    if not value.isdigit() or len(value) > MAX_RETRY_AFTER_DIGITS:
        return None
    return float(int(value))


def error_code(value: object) -> str:
    """`value` if it reads like a Slack error code, else `unreadable_error`."""
    if isinstance(value, str) and _ERROR_CODE.fullmatch(value):
        return value
    return "unreadable_error"


def answer_result(
    method: str, status: int, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """The object of an `{"ok": true}` answer to `method`; raises the
    `SlackError` an error answer stands for (see the module docstring)."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    retry_after = retry_after_seconds(headers)
    if status == 429:
        code = error_code(answer.get("error")) if isinstance(answer, dict) else RATE_LIMITED
        raise RateLimited(code, method=method, status=status, retry_after=retry_after)
    if isinstance(answer, dict) and answer.get("ok") is True and status == 200:
        return answer
    if not isinstance(answer, dict) or answer.get("ok") is not False:
        if status >= 500:
            raise ServerError("server_error", method=method, status=status)
        raise NetworkTrouble(
            "not_slack_json",
            method=method,
            status=status,
            detail="the answer is not the Web API's JSON",
        )
    code = error_code(answer.get("error"))
    if code == RATE_LIMITED:
        raise RateLimited(code, method=method, status=status, retry_after=retry_after)
    if code in AUTH_ERRORS:
        raise AuthFailed(code, method=method, status=status)
    if status >= 500 or code in TRANSIENT_ERRORS:
        raise ServerError(code, method=method, status=status)
    raise SlackError(code, method=method, status=status)
