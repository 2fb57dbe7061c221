"""A small, strict JSON-schema validator for tool arguments (pure).

Supports exactly the subset the tool contract uses: `type` (object, string,
integer, number, boolean, array), `properties`, `required`,
`additionalProperties: false`, `items`, `enum`, `minimum`/`maximum`,
`minLength`/`maxLength`, plus the annotations `description`, `title` and
`default`. Objects are always closed: an argument the schema does not declare
is refused even when `additionalProperties` is omitted (the model gets told,
rather than a tool silently ignoring what it thought it asked for). `check_schema` rejects any other keyword at registration, so a
tool can never believe a constraint (say `pattern`) is enforced when it is
not. `validate_arguments` returns the first problem as a sentence the model
can act on (`'command' is required`), or `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ANNOTATIONS = frozenset({"description", "title", "default"})
_KEYWORDS = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
}
_TYPE_NAMES = {
    "object": "an object",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
}


class SchemaError(ValueError):
    """A tool's parameter schema uses something this validator cannot enforce."""


def check_schema(schema: Mapping[str, Any], where: str = "parameters") -> None:
    """Raise `SchemaError` unless `schema` only uses supported keywords and types."""
    unknown = sorted(set(schema) - _KEYWORDS)
    if unknown:
        raise SchemaError(f"{where}: unsupported schema keyword(s) {', '.join(unknown)}")
    kind = schema.get("type")
    if kind not in _TYPE_NAMES:
        raise SchemaError(f"{where}: 'type' must be one of {', '.join(_TYPE_NAMES)}")
    if schema.get("additionalProperties", False) is not False:
        raise SchemaError(f"{where}: only 'additionalProperties: false' is supported")
    for name, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{where}.{name}")
    for name in schema.get("required", ()):
        if name not in schema.get("properties", {}):
            raise SchemaError(f"{where}: required property {name!r} is not declared")
    if "items" in schema:
        check_schema(schema["items"], f"{where}[]")


def _type_ok(kind: str, value: object) -> bool:
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, list)  # "array"


def _validate(schema: Mapping[str, Any], value: object, path: str) -> str | None:
    label = f"{path!r}" if path else "arguments"
    kind = schema["type"]
    if not _type_ok(kind, value):
        return f"{label} must be {_TYPE_NAMES[kind]}"
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(repr(option) for option in schema["enum"])
        return f"{label} must be one of {allowed}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{label} must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{label} must be at most {schema['maximum']}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{label} must be at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{label} must be at most {schema['maxLength']} characters"
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problem = _validate(schema["items"], item, f"{path}[{index}]")
            if problem:
                return problem
    if isinstance(value, Mapping):
        return _validate_object(schema, value, path)
    return None


def _validate_object(schema: Mapping[str, Any], value: Mapping[Any, Any], path: str) -> str | None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    prefix = f"{path}." if path else ""
    for name in schema.get("required", ()):
        if name not in value:
            return f"{prefix + name!r} is required"
    for name, item in value.items():
        if name not in properties:
            return f"unexpected argument {prefix + str(name)!r}"
        problem = _validate(properties[name], item, prefix + name)
        if problem:
            return problem
    return None


def validate_arguments(schema: Mapping[str, Any], arguments: object) -> str | None:
    """The first way `arguments` breaks `schema` (checked by `check_schema`), or None."""
    return _validate(schema, arguments, "")
