"""`ProviderLimits`: the timeouts and retry budget every provider adapter obeys."""

from __future__ import annotations

import attrs


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"ProviderLimits.{attribute.name} must be > 0, got {value!r}")


def _not_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"ProviderLimits.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ProviderLimits:
    """Edge limits for one provider (seconds unless stated).

    `connect`: TCP/TLS connect and connection-pool wait. `read`: the longest
    silence between two received chunks (with streaming, a long answer does
    not hit it). `max_retries`: extra attempts after the first on a retryable
    failure. Backoff before retry `n` (0-based) is uniform in
    `[0, min(backoff_cap, backoff_base * 2**n)]` (full jitter) unless the
    server sent `retry-after`, which is honoured up to `retry_after_cap`.
    Raises `ValueError` on a non-positive time or a negative retry count.
    """

    connect: float = attrs.field(default=10.0, validator=_positive)
    read: float = attrs.field(default=120.0, validator=_positive)
    max_retries: int = attrs.field(default=3, validator=_not_negative)
    backoff_base: float = attrs.field(default=1.0, validator=_positive)
    backoff_cap: float = attrs.field(default=30.0, validator=_positive)
    retry_after_cap: float = attrs.field(default=60.0, validator=_positive)
