"""The SSRF guard's pure core: URL validation, the allowlist, and address judgement.

No I/O. `validate_url` turns a model-supplied URL into a `ValidatedUrl` (or a
`UrlRejected`); `judge_addresses` decides whether every address a host
resolved to may be contacted. Resolution and the pinned connection live in
`ssrf_resolve` and `net_pinned`; address ranges live in `ssrf_address`; host
notations in `ssrf_host`.

The allowlist (`tools.web.ssrf_allowlist`) is the only way to reach a blocked
address. A cloud metadata endpoint is reachable only through an allowlist
entry naming exactly that address: allowlisting 169.254.0.0/16 for some
link-local service does not hand out cloud credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_network
from urllib.parse import quote, urlsplit

import attrs

from autobot.security.ssrf_address import (
    METADATA_ADDRESSES,
    BlockReason,
    IPAddress,
    classify_address,
    unmap,
)
from autobot.security.ssrf_host import HostError, ParsedHost, parse_host

DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_LENGTH = 8192
_EDGE_WHITESPACE = " \t\n\r\f\v"
# The scheme and authority as `urlsplit` finds them (scheme characters, then
# `//` and everything up to the first `/`, `?` or `#`).
_SCHEME_AND_AUTHORITY = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://[^/?#]*)?")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
# Characters kept verbatim when re-encoding a path or query (RFC 3986 reserved,
# unreserved and existing %-escapes); anything else (non-ASCII) is %-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class AllowlistError(ValueError):
    """Invalid `ssrf_allowlist` entries: `problems` pairs each entry with what it
    must be; `str()` names them all."""

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__(
            "tools.web.ssrf_allowlist: "
            + "; ".join(f"{entry!r} must be {expected}" for entry, expected in self.problems)
        )


def parse_network(entry: str) -> IPv4Network | IPv6Network:
    """One allowlist entry: a CIDR network whose host bits are zero
    (`10.1.2.0/24`, `fd00::/8`) or a bare address (one host).

    The single rule for an entry: config validation and `Allowlist.parse`
    both call it. Raises `AllowlistError` saying what the entry must be.
    """
    try:
        return ip_network(entry, strict=True)
    except ValueError:
        pass
    try:
        loose = ip_network(entry, strict=False)
    except ValueError:
        expected = "an IP network in CIDR form such as 10.0.0.0/8"
    else:
        expected = f"a CIDR network with the host bits zero, such as {loose}"
    raise AllowlistError([(entry, expected)])


@attrs.frozen
class Allowlist:
    """Networks the operator explicitly opened (`tools.web.ssrf_allowlist`)."""

    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Build from entries (see `parse_network`); raise `AllowlistError`
        naming every invalid one."""
        networks: list[IPv4Network | IPv6Network] = []
        problems: list[tuple[str, str]] = []
        for entry in entries:
            try:
                networks.append(parse_network(entry))
            except AllowlistError as exc:
                problems.extend(exc.problems)
        if problems:
            raise AllowlistError(problems)
        return cls(tuple(networks))

    def admits(self, ip: IPAddress) -> bool:
        """True when an entry opens `ip` (metadata endpoints need an exact entry)."""
        if ip in METADATA_ADDRESSES:
            return any(net.num_addresses == 1 and ip in net for net in self.networks)
        return any(ip in net for net in self.networks)


@attrs.frozen
class UrlRejected:
    """A refusal; `reason` is what follows `URL validation failed: `."""

    reason: str


@attrs.frozen(kw_only=True)
class ValidatedUrl:
    """A URL that passed syntax checks: `host.name` is ASCII, `target` is the
    encoded path and query, `url` the canonical form (no userinfo, no fragment)."""

    scheme: str
    host: ParsedHost
    port: int
    target: str

    @property
    def authority(self) -> str:
        """`host[:port]` as it goes in the Host header (IPv6 bracketed)."""
        name = f"[{self.host.name}]" if ":" in self.host.name else self.host.name
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.target}"


def validate_url(url: str) -> ValidatedUrl | UrlRejected:
    """Check scheme, authority and host notation of a model-supplied URL.

    Whitespace around the URL is dropped and spaces or control characters
    in its path and query are %-encoded; in the scheme or authority they
    are refused, like backslashes anywhere. Literal IP hosts are only
    parsed here; `judge_addresses` decides on them like on any DNS answer.
    """
    url = url.strip(_EDGE_WHITESPACE)  # a model's stray newline is no attack
    if len(url) > _MAX_URL_LENGTH:
        return UrlRejected(f"URL is longer than {_MAX_URL_LENGTH} characters")
    if "\\" in url:
        return UrlRejected("URL contains backslashes")
    head = _SCHEME_AND_AUTHORITY.match(url)
    split = 0 if head is None else head.end()
    if _CONTROL_OR_SPACE.search(url, 0, split):
        return UrlRejected("URL host part contains whitespace or control characters")
    # Spaces and controls in the path, query or fragment are %-encoded, so
    # `urlsplit` (which silently drops tabs and newlines) sees none at all.
    url = url[:split] + _CONTROL_OR_SPACE.sub(_percent_encode, url[split:])
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return UrlRejected(f"invalid URL: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        shown = scheme or "none"
        return UrlRejected(f"only http and https URLs are allowed (scheme: {shown})")
    netloc = parts.netloc
    if "@" in netloc:
        return UrlRejected("user names and passwords in URLs are not allowed")
    host_text, port_text = _split_authority(netloc)
    try:
        host = parse_host(host_text)
        port = _parse_port(port_text, DEFAULT_PORTS[scheme])
    except HostError as exc:
        return UrlRejected(str(exc))
    target = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return ValidatedUrl(scheme=scheme, host=host, port=port, target=target)


def judge_addresses(
    addresses: Sequence[IPAddress], allowlist: Allowlist
) -> tuple[IPAddress, ...] | UrlRejected:
    """Every address must pass (blocked ranges, unless allowlisted); returns
    them (IPv4-mapped ones as IPv4), in order, for the pinned connection."""
    if not addresses:
        return UrlRejected("host did not resolve to any address")
    judged: list[IPAddress] = []
    for raw in addresses:
        ip = unmap(raw)
        reason = classify_address(ip)
        if reason is not None and not allowlist.admits(ip):
            return blocked(ip, reason)
        if ip not in judged:
            judged.append(ip)
    return tuple(judged)


def blocked(ip: IPAddress, reason: BlockReason) -> UrlRejected:
    """The refusal for an address in a blocked range."""
    return UrlRejected(f"SSRF protection: {reason.value} ({ip})")


def _percent_encode(match: re.Match[str]) -> str:
    return f"%{ord(match.group()):02X}"


def _split_authority(netloc: str) -> tuple[str, str | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            return netloc, None
        rest = netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            return netloc, None  # parse_host reports the malformed literal
        return netloc[: end + 1], rest[1:] if rest else None
    host, colon, port = netloc.partition(":")
    return host, port if colon else None


def _parse_port(text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit():
        raise HostError(f"invalid port {text!r}")
    port = int(text)
    if not 1 <= port <= 65535:
        raise HostError(f"port {port} is out of range")
    return port
