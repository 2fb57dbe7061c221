"""Host normalisation for the SSRF guard: every spelling of an address becomes one value.

Pure functions, no I/O. `parse_host` takes the host part of a URL authority
as the model wrote it and returns a `ParsedHost`: either an IP address
(whatever the notation) or a canonical ASCII host name for DNS. It follows
the WHATWG URL host parser: percent-decoding, UTS #46 mapping (full-width
digits, ideographic full stops, upper case), IDNA for Unicode labels, and
IPv4 numbers as the C library's `inet_aton` reads them (octal `0177`, hex
`0x7f`, one to four parts such as `127.1` or `2130706433`, mixed `0x7f.1`).
A host whose last label is a number but which is no valid IPv4 address is
refused rather than sent to DNS.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import unquote

import attrs
import idna

from autobot.security.ssrf_address import IPAddress

_MAX_HOST_LENGTH = 253
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_HEX_PART = re.compile(r"^0[xX][0-9a-fA-F]*$")
_DIGITS = re.compile(r"^[0-9]+$")


class HostError(ValueError):
    """A host that is not a valid host name or address; `str()` says why."""


@attrs.frozen
class ParsedHost:
    """A normalised host: `name` is ASCII (no brackets) for the Host header,
    SNI and DNS; `address` is set when the host is an IP literal."""

    name: str
    address: IPAddress | None = None


def parse_host(raw: str) -> ParsedHost:
    """Normalise the host part of a URL authority; raise `HostError` if invalid."""
    if not raw:
        raise HostError("missing host")
    if raw.startswith("["):
        address = _bracketed_ipv6(raw)
        return ParsedHost(name=address.compressed, address=address)
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError as exc:
        raise HostError("host has invalid percent-encoding") from exc
    mapped = _uts46(decoded)
    if mapped.endswith("."):
        mapped = mapped[:-1]  # one trailing dot is the DNS root, not a label
    if not mapped:
        raise HostError("missing host")
    forbidden = sorted({c for c in mapped if c.isascii() and not (c.isalnum() or c in "._-")})
    if forbidden:
        raise HostError(f"host contains forbidden characters: {''.join(forbidden)!r}")
    labels = mapped.split(".")
    if _is_number(labels[-1]):
        v4 = parse_ipv4(mapped)
        return ParsedHost(name=str(v4), address=v4)
    name = ".".join(_ascii_label(label) for label in labels)
    if len(name) > _MAX_HOST_LENGTH:
        raise HostError("host name is too long")
    return ParsedHost(name=name)


def parse_ipv4(text: str) -> IPv4Address:
    """Read `text` the way `inet_aton` does (1-4 parts, each decimal, `0`-octal
    or `0x`-hex; the last part fills the remaining bytes)."""
    parts = text.split(".")
    if len(parts) > 4:
        raise HostError(f"invalid IPv4 address {text!r}: more than four parts")
    numbers = [_ipv4_number(part, text) for part in parts]
    last_limit = 256 ** (5 - len(numbers))
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= last_limit:
        raise HostError(f"invalid IPv4 address {text!r}: a part is out of range")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _bracketed_ipv6(raw: str) -> IPv6Address:
    if not raw.endswith("]"):
        raise HostError("unterminated IPv6 address")
    inner = unquote(raw[1:-1])  # a zone id arrives as %25eth0
    address_text, _, _zone = inner.partition("%")  # the zone id only picks an interface
    try:
        return IPv6Address(address_text)
    except ValueError as exc:
        raise HostError(f"invalid IPv6 address {address_text!r}") from exc


def _uts46(text: str) -> str:
    try:
        return str(idna.uts46_remap(text, std3_rules=False, transitional=False))
    except idna.IDNAError as exc:
        raise HostError(f"invalid host name: {exc}") from exc


def _ascii_label(label: str) -> str:
    if not label.isascii():
        try:
            label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise HostError(f"invalid internationalised host name label {label!r}") from exc
    if not _LABEL.match(label):
        raise HostError(f"invalid host name label {label!r}")
    return label


def _is_number(label: str) -> bool:
    return bool(_DIGITS.match(label) or _HEX_PART.match(label))


def _ipv4_number(part: str, text: str) -> int:
    if _HEX_PART.match(part):
        return int(part[2:] or "0", 16)
    if not _DIGITS.match(part):
        raise HostError(f"invalid IPv4 address {text!r}: bad part {part!r}")
    if len(part) > 1 and part.startswith("0"):
        if not set(part) <= set("01234567"):
            raise HostError(f"invalid IPv4 address {text!r}: bad octal part {part!r}")
        return int(part, 8)
    return int(part)
