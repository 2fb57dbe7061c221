"""SSRF address classification: every blocked range at its edges, embedded IPv4, allowlist."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.security.ssrf import Allowlist, AllowlistError, UrlRejected, judge_addresses
from autobot.security.ssrf_address import BlockReason, classify_address, embedded_ipv4

R = BlockReason

# (first, last, reason, just below, just above); the neighbours must be public.
V4_RANGES = [
    ("0.0.0.0", "0.255.255.255", R.THIS_NETWORK, None, "1.0.0.0"),
    ("10.0.0.0", "10.255.255.255", R.PRIVATE, "9.255.255.255", "11.0.0.0"),
    ("100.64.0.0", "100.127.255.255", R.SHARED, "100.63.255.255", "100.128.0.0"),
    ("127.0.0.0", "127.255.255.255", R.LOOPBACK, "126.255.255.255", "128.0.0.0"),
    ("169.254.0.0", "169.254.255.255", R.LINK_LOCAL, "169.253.255.255", "169.255.0.0"),
    ("172.16.0.0", "172.31.255.255", R.PRIVATE, "172.15.255.255", "172.32.0.0"),
    ("192.0.0.0", "192.0.0.255", R.IETF_PROTOCOL, "191.255.255.255", "192.0.1.0"),
    ("192.0.2.0", "192.0.2.255", R.DOCUMENTATION, "192.0.1.255", "192.0.3.0"),
    ("192.168.0.0", "192.168.255.255", R.PRIVATE, "192.167.255.255", "192.169.0.0"),
    ("198.18.0.0", "198.19.255.255", R.BENCHMARK, "198.17.255.255", "198.20.0.0"),
    ("198.51.100.0", "198.51.100.255", R.DOCUMENTATION, "198.51.99.255", "198.51.101.0"),
    ("203.0.113.0", "203.0.113.255", R.DOCUMENTATION, "203.0.112.255", "203.0.114.0"),
    ("224.0.0.0", "239.255.255.255", R.MULTICAST, "223.255.255.255", None),
    ("240.0.0.0", "255.255.255.254", R.RESERVED, None, None),
]


@pytest.mark.parametrize(("first", "last", "reason", "below", "above"), V4_RANGES)
def test_ipv4_range_edges(
    first: str, last: str, reason: BlockReason, below: str | None, above: str | None
) -> None:
    assert classify_address(IPv4Address(first)) is reason
    assert classify_address(IPv4Address(last)) is reason
    for neighbour in (below, above):
        if neighbour is not None:
            assert classify_address(IPv4Address(neighbour)) is None, neighbour


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("255.255.255.255", R.BROADCAST),
        ("169.254.169.254", R.METADATA),
        ("fd00:ec2::254", R.METADATA),
        ("100.100.100.200", R.METADATA),
        ("192.0.0.192", R.METADATA),
        ("::", R.UNSPECIFIED),
        ("::1", R.LOOPBACK),
        ("fc00::", R.PRIVATE),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", R.PRIVATE),
        ("fe80::", R.LINK_LOCAL),
        ("febf:ffff::1", R.LINK_LOCAL),
        ("fec0::1", R.SITE_LOCAL),
        ("ff00::", R.MULTICAST),
        ("ff02::1", R.MULTICAST),
        ("64:ff9b:1::808:808", R.LOCAL_NAT64),
        ("2001:db8::", R.DOCUMENTATION),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", R.DOCUMENTATION),
        ("3fff::", R.DOCUMENTATION),
        ("3fff:fff:ffff::1", R.DOCUMENTATION),
        # embedded IPv4 judged by what it embeds
        ("::ffff:127.0.0.1", R.LOOPBACK),
        ("::ffff:169.254.169.254", R.METADATA),
        ("::10.0.0.1", R.PRIVATE),
        ("::ffff:0:192.168.0.1", R.PRIVATE),
        ("64:ff9b::100.64.0.1", R.SHARED),
        ("64:ff9b::a9fe:a9fe", R.METADATA),
        ("2002:c0a8:0101::1", R.PRIVATE),
        ("2002:7f00:1::", R.LOOPBACK),
        ("::ffff:192.0.2.1", R.DOCUMENTATION),
        ("2002:cb00:7101::", R.DOCUMENTATION),  # 6to4 of 203.0.113.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", R.LOOPBACK),  # Teredo client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", R.PRIVATE),  # Teredo client 10.0.0.1
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", R.PRIVATE),  # Teredo server 10.0.0.1
    ],
)
def test_special_addresses(address: str, reason: BlockReason) -> None:
    assert classify_address(ip_address(address)) is reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "2001:4860:4860::8888",
        "2600::1",
        "fbff:ffff::1",
        "fe7f:ffff::1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, public server and client
        "2001:db7:ffff::1",  # just below the documentation prefix
        "2001:db9::1",  # just above it
        "3fff:1000::1",  # just above 3fff::/20
    ],
)
def test_public_addresses(address: str) -> None:
    assert classify_address(ip_address(address)) is None


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_embedding_is_judged_like_the_ipv4_inside(value: int) -> None:
    v4 = IPv4Address(value)
    expected = classify_address(v4) is not None
    embeddings = [
        IPv6Address((0xFFFF << 32) | value),  # mapped
        IPv6Address((0xFFFF << 48) | value),  # SIIT
        IPv6Address((0x64FF9B << 96) | value),  # NAT64
        IPv6Address((0x2002 << 112) | (value << 80) | 1),  # 6to4
        IPv6Address((0x20010000 << 96) | (0x08080808 << 64) | (~value & 0xFFFFFFFF)),  # Teredo
    ]
    if value > 1:
        embeddings.append(IPv6Address(value))  # compatible (:: and ::1 are their own ranges)
    for v6 in embeddings:
        assert v4 in embedded_ipv4(v6)
        assert (classify_address(v6) is not None) is expected, (v6, v4)


def test_allowlist_opens_only_its_networks() -> None:
    allow = Allowlist.parse(["127.0.0.1/32", "10.1.0.0/16"])
    assert judge_addresses([IPv4Address("127.0.0.1")], allow) == (IPv4Address("127.0.0.1"),)
    assert judge_addresses([IPv4Address("10.1.2.3")], allow) == (IPv4Address("10.1.2.3"),)
    refused = judge_addresses([IPv4Address("127.0.0.2")], allow)
    assert isinstance(refused, UrlRejected)
    assert R.LOOPBACK.value in refused.reason
    # IPv4-mapped addresses are dialled as IPv4, so the IPv4 allowlist applies to them.
    assert judge_addresses([ip_address("::ffff:127.0.0.1")], allow) == (IPv4Address("127.0.0.1"),)


def test_metadata_needs_an_exact_allowlist_entry() -> None:
    broad = Allowlist.parse(["169.254.0.0/16"])
    assert judge_addresses([IPv4Address("169.254.1.1")], broad) == (IPv4Address("169.254.1.1"),)
    refused = judge_addresses([IPv4Address("169.254.169.254")], broad)
    assert isinstance(refused, UrlRejected)
    assert R.METADATA.value in refused.reason
    exact = Allowlist.parse(["169.254.169.254/32"])
    assert judge_addresses([IPv4Address("169.254.169.254")], exact) == (
        IPv4Address("169.254.169.254"),
    )


def test_every_answer_must_pass_and_none_is_refused() -> None:
    mixed = judge_addresses([IPv4Address("8.8.8.8"), IPv4Address("10.0.0.1")], Allowlist())
    assert isinstance(mixed, UrlRejected)
    assert "10.0.0.1" in mixed.reason
    empty = judge_addresses([], Allowlist())
    assert isinstance(empty, UrlRejected)
    assert "did not resolve" in empty.reason


def test_bad_allowlist_entries_are_all_named() -> None:
    with pytest.raises(AllowlistError) as info:
        Allowlist.parse(["10.0.0.0/8", "10.0.0.1/8", "not-a-cidr", "::1/128"])
    message = str(info.value)
    assert "'10.0.0.1/8'" in message
    assert "'not-a-cidr'" in message
    assert "'10.0.0.0/8'" not in message


def test_allowlist_accepts_bare_addresses_as_single_hosts() -> None:
    allow = Allowlist.parse(["127.0.0.1", "::1"])
    assert allow.networks[0] == IPv4Network("127.0.0.1/32")
    assert allow.admits(ip_address("::1"))
    assert not allow.admits(ip_address("127.0.0.2"))
