"""The one cattrs converter from a resolved YAML tree to `Config`, and its errors.

Structuring is strict: strings must be strings, ints real ints (never bools or
"80"), floats ints or floats, bools real YAML booleans, enums their exact string
value, lists YAML sequences, sections mappings; unknown keys are refused. Empty
strings and nulls in optional fields mean "not set" (None); a null section means
all its defaults, and a null list means an empty one.

cattrs reports failures as `ClassValidationError`/`IterableValidationError`
exception groups; `structure_config` turns the whole tree of them into a flat
tuple of `ConfigProblem`s, so no group ever escapes this module.
"""

from __future__ import annotations

import difflib
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.errors import (
    CattrsError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, mapping_structure_factory

from autobot.config.errors import ConfigProblem, ProblemWriter
from autobot.config.keypath import join_index, join_key
from autobot.config.schema import Config
from autobot.config.secret import Secret

_Hook = Callable[[Any, Any], Any]


class InvalidValue(Exception):
    """A leaf value of the wrong kind; `expected` completes "must be ..."."""

    def __init__(
        self, expected: str, value: object, *, conceal: bool = False, hint: str | None = None
    ) -> None:
        super().__init__(f"must be {expected}")
        self.expected = expected
        self.value = value
        self.conceal = conceal
        self.hint = hint


def did_you_mean(word: str, candidates: typing.Iterable[str]) -> str | None:
    """ "did you mean 'x'?" for the closest candidate to `word`, or None."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def _structure_str(value: object, _: object) -> str:
    if isinstance(value, str):
        return value
    hint = "quote it in YAML" if isinstance(value, int | float) else None
    raise InvalidValue("a string", value, hint=hint)


def _structure_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    raise InvalidValue("true or false", value)


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    quoted = isinstance(value, str) and value.strip().lstrip("-").isdigit()
    raise InvalidValue("an integer", value, hint="write it without quotes" if quoted else None)


def _structure_float(value: object, _: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise InvalidValue("a number", value)


def _structure_secret(value: object, _: object) -> Secret | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return Secret(value)
    raise InvalidValue("a string", value, conceal=True)


def _is_optional(tp: Any) -> bool:
    args = typing.get_args(tp)
    is_union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    return is_union and len(args) == 2 and type(None) in args


def _optional_hook(tp: Any, converter: cattrs.Converter) -> _Hook:
    inner = next(arg for arg in typing.get_args(tp) if arg is not type(None))
    handler = converter.get_structure_hook(inner)

    def structure(value: object, _: object) -> object:
        if value is None or value == "":
            return None
        return handler(value, inner)

    return structure


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _enum_hook(tp: type[enum.Enum]) -> _Hook:
    by_value = {member.value: member for member in tp}
    expected = "one of " + ", ".join(str(v) for v in by_value)

    def structure(value: object, _: object) -> enum.Enum:
        if isinstance(value, str) and value in by_value:
            return by_value[value]
        # YAML 1.1 reads an unquoted `on`/`off` (and yes/no) as a boolean: an
        # enum spelled with `on` and `off` takes those booleans for its words.
        word = {True: "on", False: "off"}.get(value) if isinstance(value, bool) else None
        if word in by_value:
            return by_value[word]
        hint = did_you_mean(value, by_value) if isinstance(value, str) else None
        raise InvalidValue(expected, value, hint=hint)

    return structure


def _is_homogenous_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_hook(tp: Any, converter: cattrs.Converter) -> _Hook:
    base = cattrs.cols.homogenous_tuple_structure_factory(tp, converter)

    def structure(value: object, _: object) -> tuple[object, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise InvalidValue("a list", value)
        return tuple(base(value, tp))

    return structure


def _is_dict(tp: Any) -> bool:
    return typing.get_origin(tp) is dict


def _dict_hook(tp: Any, converter: cattrs.Converter) -> _Hook:
    base = mapping_structure_factory(tp, converter, dict, detailed_validation=True)

    def structure(value: object, _: object) -> dict[object, object]:
        if not isinstance(value, Mapping):
            raise InvalidValue("a mapping", value)
        for key in value:
            if not isinstance(key, str):
                raise InvalidValue("a mapping with string keys", key)
        return base(value, tp)  # type: ignore[no-any-return]

    return structure


def _section_hook(tp: Any, converter: cattrs.Converter) -> _Hook:
    base = make_dict_structure_fn(
        tp, converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )

    def structure(value: object, _: object) -> object:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise InvalidValue("a mapping", value)
        return base(value, tp)

    return structure


def make_converter() -> cattrs.Converter:
    """The strict converter for every type the schema uses (later hooks win)."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook_factory(_is_enum, _enum_hook)
    converter.register_structure_hook_factory(_is_homogenous_tuple, _tuple_hook)
    converter.register_structure_hook_factory(_is_dict, _dict_hook)
    converter.register_structure_hook_factory(attrs.has, _section_hook)
    converter.register_structure_hook_factory(_is_optional, _optional_hook)
    converter.register_structure_hook_func(lambda tp: tp == Secret | None, _structure_secret)
    return converter


def structure_config(
    converter: cattrs.Converter, tree: object, writer: ProblemWriter
) -> Config | tuple[ConfigProblem, ...]:
    """`tree` as a `Config`, or every problem that prevents it (never raises cattrs errors)."""
    try:
        return converter.structure(tree, Config)
    except (CattrsError, InvalidValue) as error:
        problems: list[ConfigProblem] = []
        _collect(error, "", writer, problems)
        return tuple(problems)


def _collect(
    error: BaseException, path: str, writer: ProblemWriter, out: list[ConfigProblem]
) -> None:
    """Flatten one cattrs error (tree) at `path` into `out`."""
    if isinstance(error, ClassValidationError):
        attributed, others = error.group_exceptions()
        for sub, attribute in attributed:
            _collect(sub, join_key(path, attribute.name), writer, out)
        for sub in others:
            _collect(sub, path, writer, out)
    elif isinstance(error, IterableValidationError):
        indexed, others = error.group_exceptions()
        for sub, note in indexed:
            index = note.index
            sub_path = join_index(path, index) if isinstance(index, int) else join_key(path, index)
            _collect(sub, sub_path, writer, out)
        for sub in others:
            _collect(sub, path, writer, out)
    elif isinstance(error, ForbiddenExtraKeysError):
        valid = [field.name for field in attrs.fields(error.cl)]
        for key in sorted(error.extra_fields, key=str):
            hint = did_you_mean(key, valid) if isinstance(key, str) else None
            listing = hint or "valid keys here: " + ", ".join(valid)
            out.append(ConfigProblem(join_key(path, key), f"unknown key ({listing})"))
    elif isinstance(error, InvalidValue):
        out.append(
            writer.invalid(
                path, error.expected, error.value, conceal=error.conceal, hint=error.hint
            )
        )
    elif isinstance(error, KeyError):
        out.append(ConfigProblem(path, "is required but missing"))
    else:
        out.append(ConfigProblem(path, f"is invalid ({type(error).__name__})"))
