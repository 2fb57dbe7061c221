"""`ProviderLimits`: the timeouts and retry budget every provider adapter obeys."""

from __future__ import annotations

from typing import Any

import attrs


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"ProviderLimits.{attribute.name} must be > 0, got {value!r}")


def _not_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"ProviderLimits.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ProviderLimits:
    """Edge limits for one provider (seconds unless stated).

    `connect`: TCP/TLS connect and connection-pool wait. `read`: the longest
    silence between two received chunks of a streamed answer (a long answer
    does not hit it; a stalled one does). `response_read`: the same for a
    non-streamed answer (the OpenAI dialect, or Anthropic with streaming off),
    where nothing arrives until the whole answer is generated: long enough for
    `max_tokens` at a slow model (the official SDKs' default, 10 minutes). A
    read timeout is never retried (see `retry.timeout_failure`).
    `max_retries`: extra attempts after the first on a retryable failure. Backoff before retry `n` (0-based) is uniform in
    `[0, min(backoff_cap, backoff_base * 2**n)]` (full jitter) unless the
    server sent `retry-after`, which is honoured up to `retry_after_cap`.
    `max_connections` bounds concurrent requests through one provider (a
    session router shares one provider across sessions). The connections are
    split over pools of at most `connections_per_pool` (see `pool_sizes`):
    httpx's pool does work quadratic in its size per request, so a thousand
    concurrent calls through one pool cost seconds of CPU; small pools do not.
    Raises `ValueError` on a non-positive time or size, or a negative retry count.
    """

    connect: float = attrs.field(default=10.0, validator=_positive)
    read: float = attrs.field(default=120.0, validator=_positive)
    response_read: float = attrs.field(default=600.0, validator=_positive)
    max_retries: int = attrs.field(default=3, validator=_not_negative)
    backoff_base: float = attrs.field(default=1.0, validator=_positive)
    backoff_cap: float = attrs.field(default=30.0, validator=_positive)
    retry_after_cap: float = attrs.field(default=60.0, validator=_positive)
    max_connections: int = attrs.field(default=1000, validator=_positive)
    connections_per_pool: int = attrs.field(default=20, validator=_positive)


def pool_sizes(limits: ProviderLimits) -> tuple[int, ...]:
    """How many connections each HTTP pool of a provider holds (they sum to
    `max_connections`; all are `connections_per_pool` but maybe the last)."""
    full, rest = divmod(limits.max_connections, limits.connections_per_pool)
    return (limits.connections_per_pool,) * full + ((rest,) if rest else ())
