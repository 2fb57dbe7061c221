"""Strict JSON for state files: what json.loads lets through is refused, in words
that follow the file's name; the written form is stable."""

from __future__ import annotations

import json

import pytest

from autobot.store.strict_json import (
    decode_document,
    encode_document,
    exact_fields,
    list_field,
)

REFUSED = {
    "not utf-8": (b'{"a": "\xff"}', "it is not UTF-8"),
    "not json": (b'{"a": 1,\n"b": }', "it is not JSON (Expecting value at line 2)"),
    "empty": (b"", "it is not JSON (Expecting value at line 1)"),
    "duplicate key": (b'{"a": 1, "b": {"c": 1, "c": 2}}', "key 'c' appears twice"),
    "NaN": (b'{"a": NaN}', "NaN is not a valid number"),
    "Infinity": (b"[Infinity]", "Infinity is not a valid number"),
    "-Infinity": (b"[-Infinity]", "-Infinity is not a valid number"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "it is nested too deeply to be a test file"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_json_loads_lets_through_is_refused(case: str) -> None:
    data, message = REFUSED[case]
    with pytest.raises(ValueError) as raised:
        decode_document(data, kind="a test file")
    assert str(raised.value) == message


def test_a_valid_document_is_decoded_as_json_loads_would() -> None:
    data = b'{"a": [1, 2.5, "\xc3\xa9"], "b": null, "c": {"d": true}}'
    assert decode_document(data, kind="a test file") == json.loads(data)


def test_the_written_form_is_indented_with_a_final_newline() -> None:
    document = {"name": "café", "items": [1]}
    assert encode_document(document, ascii_only=False) == (
        '{\n "name": "café",\n "items": [\n  1\n ]\n}\n'.encode()
    )
    assert encode_document(document, ascii_only=True) == (
        b'{\n "name": "caf\\u00e9",\n "items": [\n  1\n ]\n}\n'
    )
    for ascii_only in (False, True):
        written = encode_document(document, ascii_only=ascii_only)
        assert decode_document(written, kind="a test file") == document


def test_exact_fields_names_the_unknown_keys_before_the_missing_ones() -> None:
    assert exact_fields({"a": 1, "b": 2}, "x", {"a", "b"}) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match=r"^x\[0\] has unknown keys \['c', 'd'\]$"):
        exact_fields({"a": 1, "c": 2, "d": 3}, "x[0]", {"a", "b"})
    with pytest.raises(ValueError, match=r"^x has missing keys \['b'\]$"):
        exact_fields({"a": 1}, "x", {"a", "b"})
    with pytest.raises(ValueError, match=r"^the top level is not an object$"):
        exact_fields([], "the top level", {"a"})


def test_list_field_refuses_anything_but_a_list() -> None:
    assert list_field({"jobs": [1]}, "jobs") == [1]
    values: tuple[object, ...] = ({}, "[]", None, 1)
    for value in values:
        with pytest.raises(ValueError, match=r"^jobs is not a list$"):
            list_field({"jobs": value}, "jobs")
