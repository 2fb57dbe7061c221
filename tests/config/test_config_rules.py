"""Pure value checks and the tiny path matcher behind them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.config.errors import ConfigProblem, ProblemWriter, describe_value
from autobot.config.rules import (
    Rule,
    check_values,
    cidr,
    int_at_least,
    int_between,
    matches,
    non_empty,
    number_between,
    positive_number,
    url_with_scheme,
)

PORT = int_between(1, 65535)
HTTP = url_with_scheme("http", "https")


@pytest.mark.parametrize(
    ("check", "value", "fails"),
    [
        (PORT, 1, False),
        (PORT, 65535, False),
        (PORT, 0, True),
        (PORT, 65536, True),
        (PORT, True, False),  # a bool is a type problem, not a range one
        (PORT, "80", False),  # likewise for a string
        (int_at_least(1), 1, False),
        (int_at_least(1), 0, True),
        (number_between(0, 2), 0, False),
        (number_between(0, 2), 2.0, False),
        (number_between(0, 2), -0.1, True),
        (number_between(0, 2), math.nan, True),
        (positive_number, 0.001, False),
        (positive_number, 0, True),
        (positive_number, math.inf, True),
        (positive_number, math.nan, True),
        (non_empty, "x", False),
        (non_empty, " ", True),
        (HTTP, "https://api.example.com/v1", False),
        (HTTP, "http://127.0.0.1:8000", False),
        (HTTP, "http://[::1]:8000/v1", False),
        (HTTP, "https://", True),
        (HTTP, "file:///etc/passwd", True),
        (HTTP, "javascript:alert(1)", True),
        (HTTP, "http://host:notaport/", True),
        (HTTP, "api.example.com", True),
        (HTTP, 5, False),
        (cidr, "10.0.0.0/8", False),
        (cidr, "10.0.0.1/8", True),  # host bits set: the SSRF guard refuses it too
        (cidr, "192.0.2.7", False),
        (cidr, "fd00::/8", False),
        (cidr, "10.0.0.0/33", True),
        (cidr, "example.com", True),
        (cidr, "0177.0.0.1", True),
    ],
)
def test_checks(check: object, value: object, fails: bool) -> None:
    assert callable(check)
    assert (check(value) is not None) == fails


@given(st.integers())
def test_port_check_agrees_with_range(port: int) -> None:
    assert (PORT(port) is None) == (1 <= port <= 65535)


def test_matches_wildcards_lists_and_absent_keys() -> None:
    tree = {
        "a": {"x": {"n": 1}, "y": {"n": 2}, "z": 3},
        "l": ["p", "q"],
        "s": "not-a-mapping",
    }
    assert list(matches(tree, "a.*.n")) == [("a.x.n", 1), ("a.y.n", 2)]
    assert list(matches(tree, "l.#")) == [("l[0]", "p"), ("l[1]", "q")]
    assert list(matches(tree, "s.deeper")) == []
    assert list(matches(tree, "missing.key")) == []
    assert list(matches(tree, "s.#")) == []


def test_check_values_skips_null_and_optional_empty() -> None:
    rules = (Rule("u", HTTP, optional=True), Rule("v", HTTP), Rule("w", HTTP))
    tree = {"u": "", "v": "", "w": None}
    assert check_values(tree, ProblemWriter(), rules) == (
        ConfigProblem("v", "must be a URL with a host, starting with http:// or https:// (got '')"),
    )


def test_problem_writer_conceals_expanded_and_explains_unresolved() -> None:
    writer = ProblemWriter(expanded={"a": ("TOKEN",)}, unresolved={"b": ("HOST",)})
    assert writer.invalid("a", "X", "s3cret", hint="did you mean 's3cre'?") == ConfigProblem(
        "a", "must be X (the value from ${TOKEN} is not shown)"
    )
    assert writer.invalid("b", "X", None) == ConfigProblem(
        "b", "must be X (${HOST} is not set in the environment or .env)"
    )
    assert writer.invalid("c", "X", "v", conceal=True) == ConfigProblem(
        "c", "must be X (the value is not shown)"
    )
    assert writer.invalid("c", "X", "v", hint="h") == ConfigProblem("c", "must be X (got 'v'; h)")


def test_describe_value_truncates_long_strings() -> None:
    text = describe_value("x" * 500)
    assert len(text) == 40 and text.endswith("...'")
