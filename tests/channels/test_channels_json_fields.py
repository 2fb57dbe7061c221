"""The channels' shared reading of platform JSON: typed fields that make an event
malformed rather than raise anything else, and sender names as one printable line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from autobot.channels.json_fields import (
    Malformed,
    as_list,
    as_object,
    bool_field,
    int_field,
    is_int,
    optional_bool,
    optional_int,
    optional_str,
    str_field,
)
from autobot.channels.names import MAX_DISPLAY_NAME, printable_name

FIELD = {"n": 3, "s": "x", "b": False, "t": True, "null": None, "list": [], "obj": {}}


def test_a_bool_is_not_a_json_integer() -> None:
    assert [is_int(v) for v in (0, -7, 2**70, True, False, 1.0, "1", None)] == (
        [True, True, True, False, False, False, False, False]
    )


def test_present_fields_of_the_right_type_are_read() -> None:
    assert int_field(FIELD, "n") == 3
    assert str_field(FIELD, "s") == "x"
    assert bool_field(FIELD, "b") is False
    assert (optional_int(FIELD, "n"), optional_str(FIELD, "s"), optional_bool(FIELD, "t")) == (
        3,
        "x",
        True,
    )
    assert as_object(FIELD["obj"]) == {} and as_list(FIELD["list"]) == []


def test_absent_or_null_optional_fields_are_none() -> None:
    for key in ("missing", "null"):
        assert (optional_int(FIELD, key), optional_str(FIELD, key), optional_bool(FIELD, key)) == (
            None,
            None,
            None,
        )


READS: dict[str, Callable[[], Any]] = {
    "missing int": lambda: int_field(FIELD, "missing"),
    "bool as int": lambda: int_field(FIELD, "b"),
    "int as str": lambda: str_field(FIELD, "n"),
    "int as bool": lambda: bool_field(FIELD, "n"),
    "str as optional int": lambda: optional_int(FIELD, "s"),
    "int as optional str": lambda: optional_str(FIELD, "n"),
    "str as optional bool": lambda: optional_bool(FIELD, "s"),
    "list as object": lambda: as_object(FIELD["list"]),
    "object as list": lambda: as_list(FIELD["obj"]),
    "null as object": lambda: as_object(None),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_a_field_of_another_type_makes_the_json_malformed(read: str) -> None:
    with pytest.raises(Malformed):
        READS[read]()


def test_a_name_becomes_one_printable_capped_line() -> None:
    assert printable_name("  Eve\u202e\nrm\t-rf\u200b  x ") == "Eve rm -rf x"
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert printable_name(f"Ann {family}") == f"Ann {family}"  # the joiners stay
    assert printable_name("a\ud800b") == "a\ufffdb"
    assert printable_name("x" * 100 + " y") == "x" * MAX_DISPLAY_NAME
    assert printable_name("\n\u2028\u202e") == ""
