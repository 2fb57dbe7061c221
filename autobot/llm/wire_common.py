"""Helpers both wire dialects share when reading a provider's JSON response."""

from __future__ import annotations


class InvalidResponse(ValueError):
    """A provider response that does not have the documented shape.

    The message names what is missing, never the response content.
    """


def token_count(value: object) -> int:
    """A usage counter from the wire: a non-negative int, anything else counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def optional_str(value: object) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None
