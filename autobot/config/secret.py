"""The `Secret` value type: a credential whose repr, str and structured dumps never show it."""

from __future__ import annotations

from typing import Any, NoReturn

REDACTED = "[REDACTED]"


class Secret:
    """A loaded credential (API key, bot token, password).

    `str()` and `repr()` are redacted so a secret can travel inside config
    values, log fields and exception messages without leaking. Call
    `reveal()` at the single place that must hand the raw value to a client.

    Deliberately *not* an attrs class, and without a `__dict__`: generic
    structured dumps cannot see the value. `attrs.asdict(config)` and cattrs'
    `unstructure` keep a `Secret` as the object itself (redacted repr),
    `attrs.asdict(secret)` refuses (not an attrs class), `vars(secret)` has no
    `__dict__` to show, and `json.dumps` refuses it. Instances are immutable,
    compare and hash by value, and copy and pickle as themselves.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the raw credential; only adapters talking to the service call this."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))
