"""The retry policy shared by every provider adapter.

Pure core: `Failure` describes one failed attempt in log-safe terms (status,
request id, a reason written here, never a response body or header that could
carry a secret); `parse_retry_after`, `retry_delay` and `describe_failure` are
plain functions of their inputs. Thin shell: `call_with_retries` runs an
attempt, sleeps with `trio.sleep` between retries (so `autojump_clock` tests
see exact virtual times) and finally raises `ProviderError`.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

import attrs
import trio

from autobot.llm.limits import ProviderLimits
from autobot.llm.types import ProviderError
from autobot.logs.records import Logger

T = TypeVar("T")

# Error types a provider may report inside a 200 response (an SSE `error` event).
RETRYABLE_ERROR_TYPES = frozenset({"rate_limit_error", "overloaded_error", "api_error"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@attrs.frozen(kw_only=True)
class Failure:
    """Why one attempt failed. `status` is None for transport failures
    (connect refused, timeout); `reason` is a fixed, log-safe phrase."""

    reason: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None
    request_id: str | None = None


class AttemptFailed(Exception):
    """Raised by one provider attempt; `call_with_retries` decides what next."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def is_retryable_status(status: int) -> bool:
    """429 and every 5xx (Anthropic's 529 overloaded included); no other 4xx."""
    return status == 429 or 500 <= status <= 599


def status_failure(
    status: int,
    headers: Mapping[str, str],
    *,
    now: float,
    error_type: str | None = None,
    request_id_header: str = "request-id",
) -> Failure:
    """The `Failure` for an HTTP error status (or an error event inside a 200).

    `headers` must have lower-case names; `now` is wall-clock epoch seconds,
    used to turn an HTTP-date `retry-after` into a delay.
    """
    retryable = is_retryable_status(status) or error_type in RETRYABLE_ERROR_TYPES
    reason = f"HTTP {status}"
    if error_type is not None and re.fullmatch(r"[a-z_]{1,64}", error_type):
        reason += f" {error_type}"
    return Failure(
        reason=reason,
        retryable=retryable,
        status=status,
        retry_after=parse_retry_after(headers, now=now),
        request_id=safe_request_id(headers.get(request_id_header)),
    )


def transport_failure(reason: str) -> Failure:
    """A retryable failure with no HTTP status and no answer started (connection
    refused or dropped before any response byte)."""
    return Failure(reason=reason, retryable=True)


def timeout_failure(*, request_sent: bool) -> Failure:
    """A timeout. Before the request was completely sent (connect, pool wait,
    write) the provider cannot have started on it: retryable. Once it was
    sent, the provider may be generating the answer, and billing it, however
    long it takes us to hear back: a retry could pay for it twice, so it is
    not retried (the turn ends in an apology instead)."""
    if not request_sent:
        return Failure(reason="timeout before the request was sent", retryable=True)
    return Failure(reason="timeout waiting for the answer (not retried)", retryable=False)


def interrupted_failure() -> Failure:
    """The connection failed while the answer was arriving: generated (and
    billed) at least in part, so not retried."""
    return Failure(reason="answer interrupted (not retried)", retryable=False)


def safe_request_id(value: str | None) -> str | None:
    """`value` if it looks like a request id, else None (it is logged verbatim)."""
    if value is None or not _REQUEST_ID.fullmatch(value):
        return None
    return value


def parse_retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds to wait as the server asked, or None if it did not (or said nonsense).

    Reads `retry-after-ms` (milliseconds), then `retry-after` (seconds, or an
    HTTP date compared with `now`). A date in the past means 0.
    """
    millis = _finite_non_negative(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite_non_negative(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _finite_non_negative(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def retry_delay(
    retry_index: int, failure: Failure, limits: ProviderLimits, rng: random.Random
) -> float:
    """Seconds to sleep before retry `retry_index` (0-based).

    The server's `retry-after`, capped at `limits.retry_after_cap`, wins;
    otherwise exponential backoff with full jitter drawn from `rng`.
    """
    if failure.retry_after is not None:
        return min(failure.retry_after, limits.retry_after_cap)
    ceiling = min(limits.backoff_cap, limits.backoff_base * 2.0**retry_index)
    return rng.uniform(0.0, ceiling)


def describe_failure(provider: str, failure: Failure, attempts: int) -> str:
    """The log-safe `ProviderError` message: provider, reason, attempts, request id."""
    noun = "attempt" if attempts == 1 else "attempts"
    text = f"{provider}: {failure.reason} after {attempts} {noun}"
    if failure.request_id is not None:
        text += f" (request id {failure.request_id})"
    return text


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    provider: str,
    limits: ProviderLimits,
    rng: random.Random,
    logger: Logger | None = None,
) -> T:
    """Run `attempt` until it succeeds, fails for good, or retries run out.

    `attempt` raises `AttemptFailed` to report a failure; anything else it
    raises propagates untouched. Raises `ProviderError` (log-safe message, no
    chained exception) on a non-retryable failure or after
    `limits.max_retries` retries. Each retry is logged as a WARN record.
    """
    retry_index = 0
    while True:
        try:
            return await attempt()
        except AttemptFailed as exc:
            failure = exc.failure
        if not failure.retryable or retry_index >= limits.max_retries:
            raise ProviderError(describe_failure(provider, failure, retry_index + 1)) from None
        delay = retry_delay(retry_index, failure, limits, rng)
        if logger is not None:
            logger.warn(
                f"{provider}: {failure.reason}, retry {retry_index + 1}/{limits.max_retries}"
                f" in {delay:.3f}s",
                request_id=failure.request_id or "-",
            )
        await trio.sleep(delay)
        retry_index += 1
