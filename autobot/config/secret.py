"""The `Secret` value type: a credential whose repr and str never show it."""

from __future__ import annotations

import attrs

REDACTED = "[REDACTED]"


@attrs.frozen(repr=False)
class Secret:
    """A loaded credential (API key, bot token, password).

    `str()` and `repr()` are redacted so a secret can travel inside config
    values, log fields and exception messages without leaking. Call
    `reveal()` at the single place that must hand the raw value to a client.
    """

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        """Return the raw credential; only adapters talking to the service call this."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __str__(self) -> str:
        return REDACTED
