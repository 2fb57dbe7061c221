"""Typed reads of the JSON a chat platform sends, for parsers that never raise (pure).

An event parser (`telegram.updates`, `zulip.events`) reads every field
through these and catches `Malformed` once, where the event becomes a
message or None: a field that is missing or of another type makes the whole
event malformed. For an `optional_` read, absent and JSON null are both
None. `is_int` is the one test of a JSON integer (a bool is not one) that
the API clients use too.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeGuard


class Malformed(Exception):
    """The JSON does not have the platform's shape."""


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def malformed() -> NoReturn:
    """Give up on the event: raises `Malformed`."""
    raise Malformed


def as_object(value: object) -> dict[str, Any]:
    """`value`, a JSON object; raises `Malformed` otherwise."""
    if not isinstance(value, dict):
        malformed()
    return value


def as_list(value: object) -> list[Any]:
    """`value`, a JSON array; raises `Malformed` otherwise."""
    if not isinstance(value, list):
        malformed()
    return value


def int_field(container: dict[str, Any], key: str) -> int:
    value = container.get(key)
    if not is_int(value):
        malformed()
    return value


def optional_int(container: dict[str, Any], key: str) -> int | None:
    value = container.get(key)
    return None if value is None else int_field(container, key)


def str_field(container: dict[str, Any], key: str) -> str:
    value = container.get(key)
    if not isinstance(value, str):
        malformed()
    return value


def optional_str(container: dict[str, Any], key: str) -> str | None:
    value = container.get(key)
    return None if value is None else str_field(container, key)


def bool_field(container: dict[str, Any], key: str) -> bool:
    value = container.get(key)
    if not isinstance(value, bool):
        malformed()
    return value


def optional_bool(container: dict[str, Any], key: str) -> bool | None:
    value = container.get(key)
    return None if value is None else bool_field(container, key)
