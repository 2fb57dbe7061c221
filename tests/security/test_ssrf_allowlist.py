"""One rule for `tools.web.ssrf_allowlist` entries: config validation is the guard's parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.config.errors import ConfigError, ConfigProblem
from autobot.config.load import load_config
from autobot.config.rules import cidr
from autobot.security.ssrf import Allowlist, AllowlistError, parse_network


def _accepted_by_the_guard(entry: str) -> bool:
    try:
        Allowlist.parse([entry])
    except AllowlistError:
        return False
    return True


@given(
    st.one_of(
        st.text(alphabet="0123456789abcdefx.:/ ", max_size=24),
        st.ip_addresses().map(str),
        st.tuples(st.ip_addresses(), st.integers(0, 129)).map(lambda p: f"{p[0]}/{p[1]}"),
    )
)
def test_config_validation_and_the_guard_agree(entry: str) -> None:
    assert (cidr(entry) is None) == _accepted_by_the_guard(entry)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("10.0.0.1/8", "a CIDR network with the host bits zero, such as 10.0.0.0/8"),
        ("fd00::1/8", "a CIDR network with the host bits zero, such as fd00::/8"),
        ("intranet", "an IP network in CIDR form such as 10.0.0.0/8"),
        ("10.0.0.0/33", "an IP network in CIDR form such as 10.0.0.0/8"),
        (" 10.0.0.0/8", "an IP network in CIDR form such as 10.0.0.0/8"),
    ],
)
def test_a_bad_entry_says_what_it_must_be(entry: str, expected: str) -> None:
    with pytest.raises(AllowlistError) as info:
        parse_network(entry)
    assert info.value.problems == ((entry, expected),)
    assert cidr(entry) == expected


def test_host_bits_are_a_config_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "tools:\n  web:\n    ssrf_allowlist: ['10.0.0.1/8', '192.168.0.0/16', 'fd00::1/8']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config, {})
    assert info.value.problems == (
        ConfigProblem(
            "tools.web.ssrf_allowlist[0]",
            "must be a CIDR network with the host bits zero, such as 10.0.0.0/8 (got '10.0.0.1/8')",
        ),
        ConfigProblem(
            "tools.web.ssrf_allowlist[2]",
            "must be a CIDR network with the host bits zero, such as fd00::/8 (got 'fd00::1/8')",
        ),
    )


def test_the_guard_names_every_bad_entry() -> None:
    with pytest.raises(AllowlistError) as info:
        Allowlist.parse(["10.0.0.0/8", "10.0.0.1/8", "x"])
    assert str(info.value) == (
        "tools.web.ssrf_allowlist: '10.0.0.1/8' must be a CIDR network with the host bits"
        " zero, such as 10.0.0.0/8; 'x' must be an IP network in CIDR form such as 10.0.0.0/8"
    )
