# ruff: noqa: RUF001  (full-width and ideographic characters are the point of these rows)
"""The SSRF URL table: every notation in issue 5, through the guard with a fake resolver.

Each row is a URL and what must happen: `OK` (allowed, with the address the
connection is pinned to), a `BlockReason` (refused by the address judge), a
`Refused("text")` (refused before any address is judged), or `UNRESOLVABLE`
(the host does not resolve: a failed operation, not a refusal).
"""

from __future__ import annotations

from ipaddress import ip_address

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.security.ssrf import Allowlist, UrlRejected, validate_url
from autobot.security.ssrf_address import BlockReason
from autobot.security.ssrf_resolve import PinnedTarget, ResolutionError, guard_url
from autobot.testing.fake_web import FakeResolver

R = BlockReason


@attrs.frozen
class OK:
    pinned: str


@attrs.frozen
class Refused:
    text: str


UNRESOLVABLE = object()


DNS = {
    "example.com": [["93.184.216.34"]],
    "xn--bcher-kva.de": [["81.169.145.78"]],
    "xn--mnchen-3ya.de": [["81.169.145.79"]],
    "v6.test": [["2606:4700:4700::1111"]],
    "doc.test": [["8.8.8.8", "203.0.113.10"]],
    "localhost": [["127.0.0.1", "::1"]],
    "internal.test": [["10.0.0.5"]],
    "metadata.google.internal": [["169.254.169.254"]],
    "127.0.0.1.nip.io": [["127.0.0.1"]],
    "rebind.test": [["8.8.8.8", "10.0.0.1"]],
    "mixed6.test": [["8.8.8.8", "::1"]],
    "mapped.test": [["::ffff:192.168.0.1"]],
    "cgnat.test": [["100.64.1.1"]],
}

TABLE: list[tuple[str, object]] = [
    # --- public, allowed ----------------------------------------------------------------
    ("http://example.com/", OK("93.184.216.34")),
    ("https://example.com/path?q=1#frag", OK("93.184.216.34")),
    ("HTTP://EXAMPLE.COM/", OK("93.184.216.34")),
    ("http://example.com./", OK("93.184.216.34")),
    ("http://ＥＸＡＭＰＬＥ.ｃｏｍ/", OK("93.184.216.34")),
    ("http://example.com:8443/", OK("93.184.216.34")),
    ("http://example.com:65535/x", OK("93.184.216.34")),
    ("http://bücher.de/", OK("81.169.145.78")),
    ("http://BÜCHER.de/", OK("81.169.145.78")),
    ("http://xn--bcher-kva.de/", OK("81.169.145.78")),
    ("http://münchen.de/", OK("81.169.145.79")),
    ("http://v6.test/", OK("2606:4700:4700::1111")),
    ("http://8.8.8.8/", OK("8.8.8.8")),
    ("http://134744072/", OK("8.8.8.8")),
    ("http://0x08080808/", OK("8.8.8.8")),
    ("http://010.010.010.010/", OK("8.8.8.8")),
    ("http://8.8.2056/", OK("8.8.8.8")),
    ("http://8.526344/", OK("8.8.8.8")),
    ("http://0x8.0x8.0x8.0x8/", OK("8.8.8.8")),
    ("http://[2001:4860:4860::8888]/", OK("2001:4860:4860::8888")),
    ("http://[2001:4860:4860::8888]:8080/", OK("2001:4860:4860::8888")),
    ("http://[::ffff:8.8.8.8]/", OK("8.8.8.8")),
    ("http://[64:ff9b::808:808]/", OK("64:ff9b::808:808")),
    ("http://[2002:808:808::1]/", OK("2002:808:808::1")),
    ("http://[2001:0:4136:e378:8000:63bf:f7f7:f7f7]/", OK("2001:0:4136:e378:8000:63bf:f7f7:f7f7")),
    ("http://9.255.255.255/", OK("9.255.255.255")),
    ("http://11.0.0.0/", OK("11.0.0.0")),
    ("http://100.63.255.255/", OK("100.63.255.255")),
    ("http://100.128.0.0/", OK("100.128.0.0")),
    ("http://126.255.255.255/", OK("126.255.255.255")),
    ("http://128.0.0.0/", OK("128.0.0.0")),
    ("http://169.253.255.255/", OK("169.253.255.255")),
    ("http://169.255.0.0/", OK("169.255.0.0")),
    ("http://172.15.255.255/", OK("172.15.255.255")),
    ("http://172.32.0.0/", OK("172.32.0.0")),
    ("http://192.0.1.0/", OK("192.0.1.0")),
    ("http://192.0.3.0/", OK("192.0.3.0")),
    ("http://198.51.99.255/", OK("198.51.99.255")),
    ("http://198.51.101.0/", OK("198.51.101.0")),
    ("http://203.0.112.255/", OK("203.0.112.255")),
    ("http://203.0.114.0/", OK("203.0.114.0")),
    ("http://[2001:db9::1]/", OK("2001:db9::1")),
    ("http://192.167.255.255/", OK("192.167.255.255")),
    ("http://192.169.0.0/", OK("192.169.0.0")),
    ("http://198.17.255.255/", OK("198.17.255.255")),
    ("http://198.20.0.0/", OK("198.20.0.0")),
    ("http://223.255.255.255/", OK("223.255.255.255")),
    ("http://1.0.0.0/", OK("1.0.0.0")),
    # --- whitespace a model leaves around a URL, spaces in a path or query ---------------
    ("https://example.com/\n", OK("93.184.216.34")),
    (" \t https://example.com/search?q=a b \r\n", OK("93.184.216.34")),
    ("http://example.com/a b/c\td?x=1 2#frag ment", OK("93.184.216.34")),
    ("http://127.0.0.1/ x", R.LOOPBACK),
    (" http://10.0.0.1/\n", R.PRIVATE),
    # --- loopback in every notation -----------------------------------------------------
    ("http://127.0.0.1/", R.LOOPBACK),
    ("https://127.0.0.1/secret", R.LOOPBACK),
    ("http://127.255.255.255/", R.LOOPBACK),
    ("http://127.0.0.1:8080/", R.LOOPBACK),
    ("http://0177.0.0.1/", R.LOOPBACK),
    ("http://0177.0.0.01/", R.LOOPBACK),
    ("http://00000177.0.0.1/", R.LOOPBACK),
    ("http://0x7f.0.0.1/", R.LOOPBACK),
    ("http://0X7F.0.0.1/", R.LOOPBACK),
    ("http://0x7f000001/", R.LOOPBACK),
    ("http://0x7F000001/", R.LOOPBACK),
    ("http://2130706433/", R.LOOPBACK),
    ("http://017700000001/", R.LOOPBACK),
    ("http://127.1/", R.LOOPBACK),
    ("http://127.0.1/", R.LOOPBACK),
    ("http://0x7f.1/", R.LOOPBACK),
    ("http://0177.1/", R.LOOPBACK),
    ("http://0x7f.0.1/", R.LOOPBACK),
    ("http://127.0x0.0.1/", R.LOOPBACK),
    ("http://127.0.0.1./", R.LOOPBACK),
    ("http://127.1./", R.LOOPBACK),
    ("http://127。0。0。1/", R.LOOPBACK),
    ("http://１２７.０.０.１/", R.LOOPBACK),
    ("http://%31%32%37.0.0.1/", R.LOOPBACK),
    ("http://①②⑦.0.0.1/", R.LOOPBACK),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", R.LOOPBACK),
    ("http://0x7f.0x0.0x0.0x1/", R.LOOPBACK),
    ("http://127.000000000000000.1/", R.LOOPBACK),
    ("http://[::ffff:127.0.0.1%25eth0]/", R.LOOPBACK),
    ("http://localhost/", R.LOOPBACK),
    ("http://LOCALHOST./", R.LOOPBACK),
    ("http://127.0.0.1.nip.io/", R.LOOPBACK),
    ("http://[::1]/", R.LOOPBACK),
    ("http://[0:0:0:0:0:0:0:1]/", R.LOOPBACK),
    ("http://[::1]:8080/", R.LOOPBACK),
    ("http://[::ffff:127.0.0.1]/", R.LOOPBACK),
    ("http://[::FFFF:7F00:1]/", R.LOOPBACK),
    ("http://[::127.0.0.1]/", R.LOOPBACK),
    ("http://[64:ff9b::127.0.0.1]/", R.LOOPBACK),
    ("http://[2002:7f00:1::]/", R.LOOPBACK),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", R.LOOPBACK),
    ("http://127.0.0.1#@example.com/", R.LOOPBACK),
    ("http://127.0.0.1?@example.com/", R.LOOPBACK),
    # --- this network, unspecified ------------------------------------------------------
    ("http://0.0.0.0/", R.THIS_NETWORK),
    ("http://0/", R.THIS_NETWORK),
    ("http://0x0/", R.THIS_NETWORK),
    ("http://0.1.2.3/", R.THIS_NETWORK),
    ("http://[::]/", R.UNSPECIFIED),
    ("http://[::ffff:0.0.0.0]/", R.THIS_NETWORK),
    # --- private ------------------------------------------------------------------------
    ("http://10.0.0.1/secret", R.PRIVATE),
    ("http://10.255.255.255/", R.PRIVATE),
    ("http://012.0.0.1/", R.PRIVATE),
    ("http://0xa.0.0.1/", R.PRIVATE),
    ("http://167772161/", R.PRIVATE),
    ("http://10.1/", R.PRIVATE),
    ("http://172.16.0.0/", R.PRIVATE),
    ("http://172.16.0.1/internal", R.PRIVATE),
    ("http://172.31.255.255/", R.PRIVATE),
    ("http://0xac.0x10.0.1/", R.PRIVATE),
    ("http://192.168.0.0/", R.PRIVATE),
    ("http://192.168.1.1/admin", R.PRIVATE),
    ("http://0300.0250.0.1/", R.PRIVATE),
    ("http://3232235521/", R.PRIVATE),
    ("http://0xc0a80001/", R.PRIVATE),
    ("http://192.168.257/", R.PRIVATE),
    ("http://[::ffff:10.0.0.1]/", R.PRIVATE),
    ("http://[::FFFF:a00:1]/", R.PRIVATE),
    ("http://[::ffff:192.168.1.1]/", R.PRIVATE),
    ("http://[64:ff9b::a00:1]/", R.PRIVATE),
    ("http://[2002:a00:1::1]/", R.PRIVATE),
    ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", R.PRIVATE),
    ("http://[fc00::1]/internal", R.PRIVATE),
    ("http://[fd12:3456::1]/private", R.PRIVATE),
    ("http://[FD00::1]/", R.PRIVATE),
    ("http://internal.test/", R.PRIVATE),
    ("http://mapped.test/", R.PRIVATE),
    ("http://rebind.test/", R.PRIVATE),
    # --- shared (CGNAT), link-local, metadata -------------------------------------------
    ("http://100.64.0.0/", R.SHARED),
    ("http://100.127.255.255/", R.SHARED),
    ("http://[::ffff:100.64.0.1]/", R.SHARED),
    ("http://cgnat.test/", R.SHARED),
    ("http://169.254.0.1/", R.LINK_LOCAL),
    ("http://169.254.255.255/", R.LINK_LOCAL),
    ("http://[fe80::1]/", R.LINK_LOCAL),
    ("http://[FE80::1]/", R.LINK_LOCAL),
    ("http://[fe80::1%25eth0]/", R.LINK_LOCAL),
    ("http://[febf::1]/", R.LINK_LOCAL),
    ("http://[fec0::1]/", R.SITE_LOCAL),
    ("http://169.254.169.254/latest/meta-data/", R.METADATA),
    ("http://169.254.169.254./", R.METADATA),
    ("http://0xa9fea9fe/", R.METADATA),
    ("http://0xA9.0xFE.0xA9.0xFE/", R.METADATA),
    ("http://2852039166/", R.METADATA),
    ("http://0251.0376.0251.0376/", R.METADATA),
    ("http://169.254.43518/", R.METADATA),
    ("http://169.16689662/", R.METADATA),
    ("http://[::ffff:169.254.169.254]/", R.METADATA),
    ("http://[::ffff:a9fe:a9fe]/", R.METADATA),
    ("http://[64:ff9b::169.254.169.254]/", R.METADATA),
    ("http://[2002:a9fe:a9fe::]/", R.METADATA),
    ("http://[fd00:ec2::254]/", R.METADATA),
    ("http://100.100.100.200/", R.METADATA),
    ("http://192.0.0.192/", R.METADATA),
    ("http://metadata.google.internal/computeMetadata/v1/", R.METADATA),
    # --- other blocked ranges -----------------------------------------------------------
    ("http://192.0.0.1/", R.IETF_PROTOCOL),
    ("http://192.0.0.255/", R.IETF_PROTOCOL),
    ("http://198.18.0.0/", R.BENCHMARK),
    ("http://198.19.255.255/", R.BENCHMARK),
    ("http://224.0.0.1/", R.MULTICAST),
    ("http://239.255.255.255/", R.MULTICAST),
    ("http://[ff02::1]/", R.MULTICAST),
    ("http://[ff0e::1]/", R.MULTICAST),
    ("http://240.0.0.1/", R.RESERVED),
    ("http://255.255.255.254/", R.RESERVED),
    ("http://255.255.255.255/", R.BROADCAST),
    ("http://4294967295/", R.BROADCAST),
    ("http://0xffffffff/", R.BROADCAST),
    ("http://[64:ff9b:1::a00:1]/", R.LOCAL_NAT64),
    # --- documentation ranges (not routed on the internet) ------------------------------
    ("http://192.0.2.1/", R.DOCUMENTATION),
    ("http://0xc0000201/", R.DOCUMENTATION),
    ("http://198.51.100.7/", R.DOCUMENTATION),
    ("http://203.0.113.255/", R.DOCUMENTATION),
    ("http://[2001:db8::1]/", R.DOCUMENTATION),
    ("http://[2001:DB8:85a3::8a2e:370:7334]/", R.DOCUMENTATION),
    ("http://[3fff::1]/", R.DOCUMENTATION),
    ("http://[::ffff:203.0.113.5]/", R.DOCUMENTATION),
    ("http://[2002:c000:201::]/", R.DOCUMENTATION),
    ("http://doc.test/", R.DOCUMENTATION),
    ("http://mixed6.test/", R.LOOPBACK),
    # --- refused before any address is judged -------------------------------------------
    ("file:///etc/passwd", Refused("only http and https")),
    ("ftp://example.com/file", Refused("only http and https")),
    ("gopher://example.com/", Refused("only http and https")),
    ("javascript:alert(1)", Refused("only http and https")),
    ("data:text/html,<script>alert(1)</script>", Refused("only http and https")),
    ("dict://127.0.0.1:11211/", Refused("only http and https")),
    ("ldap://127.0.0.1/", Refused("only http and https")),
    ("//example.com/", Refused("only http and https")),
    ("example.com", Refused("only http and https")),
    ("http://", Refused("missing host")),
    ("http:///etc/passwd", Refused("missing host")),
    ("https:", Refused("missing host")),
    ("http:example.com", Refused("missing host")),
    ("http://example.com@127.0.0.1/", Refused("user names and passwords")),
    ("http://user:pass@example.com/", Refused("user names and passwords")),
    ("http://@127.0.0.1/", Refused("user names and passwords")),
    ("http://example.com%40127.0.0.1/", Refused("forbidden characters: '@'")),
    ("http://127.0.0.1%2f@example.com/", Refused("user names and passwords")),
    ("http://127.0.0.1%2f.example.com/", Refused("forbidden characters: '/'")),
    ("http://127.0.0.1%00.example.com/", Refused("forbidden characters")),
    ("http://%zz/", Refused("forbidden characters: '%'")),
    ("http://example.com\\@127.0.0.1/", Refused("backslashes")),
    ("http://127.0.0.1 /", Refused("whitespace")),
    ("http://127.0.0.1\t.example.com/", Refused("whitespace")),
    ("http://exa\nmple.com/", Refused("whitespace")),
    ("http://example.com /path", Refused("whitespace")),
    ("http://user name@example.com/", Refused("whitespace")),
    ("http://example.com:80\x00/", Refused("control characters")),
    ("http://exa\x7fmple.com/", Refused("control characters")),
    ("\x00http://127.0.0.1/", Refused("only http and https")),
    ("ht\ttp://127.0.0.1/", Refused("only http and https")),
    ("http://999.999.999.999/", Refused("invalid IPv4 address")),
    ("http://1.2.3.4.5/", Refused("invalid IPv4 address")),
    ("http://08.0.0.1/", Refused("invalid IPv4 address")),
    ("http://256.0.0.1/", Refused("invalid IPv4 address")),
    ("http://4294967296/", Refused("invalid IPv4 address")),
    ("http://0x1g.0.0.1/", Refused("invalid IPv4 address")),
    ("http://0x100000000/", Refused("invalid IPv4 address")),
    ("http://.127.0.0.1/", Refused("invalid IPv4 address")),
    ("http://127.0.0.1../", Refused("invalid host name label")),
    ("http://127\ufe520\ufe520\ufe521/", Refused("invalid host name")),
    ("http://example.0x7f/", Refused("invalid IPv4 address")),
    ("http://[127.0.0.1]/", Refused("invalid")),
    ("http://[::1]]/", Refused("invalid")),
    ("http://[::1/", Refused("invalid URL")),
    ("http://[::1]x/", Refused("unterminated IPv6")),
    ("http://example.com:0/", Refused("port 0 is out of range")),
    ("http://example.com:70000/", Refused("out of range")),
    ("http://example.com:http/", Refused("invalid port")),
    ("http://ex_ample..com/", Refused("invalid host name label")),
    ("http://nonexistent.test/", UNRESOLVABLE),
    ("http://" + "a" * 9000 + ".com/", Refused("longer than")),
]


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 100


@pytest.mark.parametrize(("url", "expected"), TABLE, ids=[repr(u)[:60] for u, _ in TABLE])
async def test_url_table(url: str, expected: object) -> None:
    if expected is UNRESOLVABLE:
        with pytest.raises(ResolutionError, match="cannot resolve host"):
            await guard_url(url, Allowlist(), FakeResolver(DNS))
        return
    outcome = await guard_url(url, Allowlist(), FakeResolver(DNS))
    if isinstance(expected, OK):
        assert isinstance(outcome, PinnedTarget), outcome
        assert outcome.addresses[0] == ip_address(expected.pinned)
    elif isinstance(expected, BlockReason):
        assert isinstance(outcome, UrlRejected), outcome
        assert outcome.reason.startswith("SSRF protection: ")
        assert expected.value in outcome.reason
    else:
        assert isinstance(expected, Refused)
        assert isinstance(outcome, UrlRejected), outcome
        assert expected.text in outcome.reason


async def test_literal_hosts_never_reach_the_resolver() -> None:
    resolver = FakeResolver(DNS)
    for url in ("http://0x7f000001/", "http://[::1]/", "http://8.8.8.8/"):
        await guard_url(url, Allowlist(), resolver)
    assert resolver.calls == []


async def test_the_allowlist_is_the_only_way_in() -> None:
    allow = Allowlist.parse(["127.0.0.0/8", "10.0.0.0/8"])
    for url in ("http://0x7f000001/", "http://127.0.0.1.nip.io/", "http://internal.test/"):
        assert isinstance(await guard_url(url, allow, FakeResolver(DNS)), PinnedTarget), url
    # localhost also answers ::1, which is not allowlisted: every answer must pass.
    for url in (
        "http://localhost/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://[fd00::1]/",
    ):
        assert isinstance(await guard_url(url, allow, FakeResolver(DNS)), UrlRejected), url


def test_validated_url_is_canonical() -> None:
    validated = validate_url("HTTP://ＥＸＡＭＰＬＥ.com.:80/a b?x=ü#frag".replace(" ", "%20"))
    assert not isinstance(validated, UrlRejected)
    assert validated.url == "http://example.com/a%20b?x=%C3%BC"
    spaced = validate_url(" https://example.com/a b?q=x y\tz#f g\n")
    assert not isinstance(spaced, UrlRejected)
    assert spaced.url == "https://example.com/a%20b?q=x%20y%09z"
    v6 = validate_url("https://[2001:DB8::1]:8443/")
    assert not isinstance(v6, UrlRejected)
    assert v6.authority == "[2001:db8::1]:8443"
    assert v6.host.name == "2001:db8::1"


def _notations(value: int) -> list[str]:
    """Ways inet_aton accepts to write the IPv4 address `value`."""
    a, b, c, d = value.to_bytes(4, "big")
    return [
        str(value),
        hex(value),
        "0" + oct(value)[2:],
        f"{a}.{b}.{c}.{d}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"{a:#x}.{b:#x}.{c:#x}.{d:#x}",
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"{a:#x}.{b}.0{(c << 8) | d:o}",
        f"{a}.{b}.{c}.{d}.",
    ]


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_ipv4_notation_means_the_same_address(value: int) -> None:
    expected = ip_address(value)
    for host in _notations(value):
        validated = validate_url(f"http://{host}/")
        assert not isinstance(validated, UrlRejected), host
        assert validated.host.address == expected, host
        assert validated.host.name == str(expected), host
