"""Strict JSON for the state files autobot writes and reads back (pure).

A state file (the cron store, the pairing store) is read back only if it has
the shape autobot writes. `decode_document` refuses what `json.loads` lets
through: a key given twice (where the later one would silently win), `NaN`
and the infinities (which no writer here produces), a nesting deep enough to
exhaust the parser; `exact_fields` refuses an object whose keys are not
exactly the expected ones, `list_field` a field that is not a list.

Every refusal is a `ValueError` worded to follow the file's name ("it is not
JSON (...)", "jobs[0] has unknown keys ['x']"): the store says which file.
"""

from __future__ import annotations

import json
from typing import Any


def encode_document(document: object, *, ascii_only: bool) -> bytes:
    """`document` as a state file holds it: UTF-8 JSON indented by one space,
    with a final newline; `ascii_only` escapes every non-ASCII character."""
    return (json.dumps(document, indent=1, ensure_ascii=ascii_only) + "\n").encode("utf-8")


def decode_document(data: bytes, *, kind: str) -> Any:
    """The JSON value in `data`. `kind` names what the file should be ("a cron
    store"). Raises `ValueError`: not UTF-8, not JSON, nested too deeply, a
    key that appears twice in one object, NaN or an infinity."""
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except UnicodeDecodeError as error:
        raise ValueError("it is not UTF-8") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"it is not JSON ({error.msg} at line {error.lineno})") from error
    except RecursionError:
        raise ValueError(f"it is nested too deeply to be {kind}") from None


def exact_fields(value: object, where: str, names: set[str]) -> dict[str, Any]:
    """`value`, an object with exactly the keys `names`. Raises `ValueError`
    naming `where` and the unknown keys (else the missing ones)."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not an object")
    if set(value) != names:
        unknown = sorted(set(value) - names)
        missing = sorted(names - set(value))
        detail = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
        raise ValueError(f"{where} has {detail}")
    return value


def list_field(fields: dict[str, Any], name: str) -> list[Any]:
    """The field `name` of `fields`, a list. Raises `ValueError` otherwise."""
    value = fields[name]
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid number")
