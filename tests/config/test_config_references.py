"""Pure ${VAR} expansion and tree resolution (no files)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.config.errors import ConfigProblem
from autobot.config.references import (
    Expansion,
    MalformedReferenceError,
    expand,
    resolve_references,
)

ENV = {"A": "alpha", "B": "", "LONG_NAME_2": "x"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", Expansion("plain", (), ())),
        ("${A}", Expansion("alpha", ("A",), ())),
        ("${B}", Expansion("", ("B",), ())),
        ("pre-${A}-${LONG_NAME_2}", Expansion("pre-alpha-x", ("A", "LONG_NAME_2"), ())),
        ("${MISSING}", Expansion(None, ("MISSING",), ("MISSING",))),
        ("${A}${MISSING}", Expansion(None, ("A", "MISSING"), ("MISSING",))),
        ("$${A}", Expansion("${A}", (), ())),
        ("$$${A}", Expansion("$${A}", (), ())),  # leftmost: "$" then the escape
        ("cost: $5 {A}", Expansion("cost: $5 {A}", (), ())),
        ("$A", Expansion("$A", (), ())),
    ],
)
def test_expand(text: str, expected: Expansion) -> None:
    assert expand(text, ENV) == expected


@pytest.mark.parametrize("text", ["${", "${A", "${}", "${1A}", "${A-B}", "x ${ A }", "${A}${"])
def test_malformed_references_are_refused_without_quoting(text: str) -> None:
    with pytest.raises(MalformedReferenceError) as caught:
        expand("secretprefix" + text, ENV)
    assert "secretprefix" not in str(caught.value)


@given(st.text().filter(lambda t: "$" not in t))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert expand(text, ENV) == Expansion(text, (), ())


@given(value=st.text(), prefix=st.text(alphabet="abc- /:"), suffix=st.text(alphabet="abc- /:"))
def test_variable_values_are_inserted_verbatim_once(value: str, prefix: str, suffix: str) -> None:
    assert expand(f"{prefix}${{V}}{suffix}", {"V": value}).value == prefix + value + suffix


def test_resolve_tree_expands_values_only_and_records_paths() -> None:
    tree = {
        "${A}": "${A}",
        "list": ["${A}", 3, "${NOPE}", None],
        "nested": {"k": "x${A}", "bad": "${", "flag": True},
    }
    resolved = resolve_references(tree, ENV)
    assert resolved.tree == {
        "${A}": "alpha",
        "list": ["alpha", 3, None, None],
        "nested": {"k": "xalpha", "bad": "${", "flag": True},
    }
    assert resolved.expanded == {"${A}": ("A",), "list[0]": ("A",), "nested.k": ("A",)}
    assert resolved.unresolved == {"list[2]": ("NOPE",)}
    assert resolved.problems == (
        ConfigProblem(
            "nested.bad",
            "malformed ${...} reference: use ${NAME} with a name of letters, digits and"
            " underscores, or $${ for a literal '${'",
        ),
    )


def test_resolve_does_not_mutate_its_input() -> None:
    tree = {"a": ["${A}"], "b": {"c": "${A}"}}
    resolve_references(tree, ENV)
    assert tree == {"a": ["${A}"], "b": {"c": "${A}"}}
