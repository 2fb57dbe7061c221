"""SSRF address classification: is this IP address somewhere the model may go?

Pure functions of an `ipaddress` value, no I/O. `classify_address` answers
with a `BlockReason` (or `None` for a public address); it is the single
judge used for literal hosts, every DNS answer and every redirect hop.

IPv6 addresses that carry an IPv4 address (mapped, compatible, SIIT,
NAT64 64:ff9b::/96, 6to4, Teredo) are judged by the IPv4 address(es) they
embed, since a translator or relay on the path delivers the packet there;
the local-use NAT64 prefix 64:ff9b:1::/48 is blocked as a whole. The allowlist is
applied by the caller (`autobot.security.ssrf`), not here.
"""

from __future__ import annotations

import enum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address


class BlockReason(enum.Enum):
    """Why an address is refused; `.value` is the text the model sees."""

    METADATA = "access to cloud metadata endpoints is blocked"
    UNSPECIFIED = "access to the unspecified address is blocked"
    THIS_NETWORK = "access to 'this network' addresses (0.0.0.0/8) is blocked"
    LOOPBACK = "access to localhost is blocked"
    PRIVATE = "access to private IP addresses is blocked"
    SHARED = "access to carrier-grade NAT addresses (100.64.0.0/10) is blocked"
    LINK_LOCAL = "access to link-local addresses is blocked"
    SITE_LOCAL = "access to site-local IPv6 addresses is blocked"
    IETF_PROTOCOL = "access to IETF protocol assignments (192.0.0.0/24) is blocked"
    BENCHMARK = "access to benchmarking addresses (198.18.0.0/15) is blocked"
    DOCUMENTATION = "access to a reserved/documentation range is blocked"
    MULTICAST = "access to multicast addresses is blocked"
    RESERVED = "access to reserved addresses (240.0.0.0/4) is blocked"
    BROADCAST = "access to the broadcast address is blocked"
    LOCAL_NAT64 = "access through the local-use NAT64 prefix (64:ff9b:1::/48) is blocked"


# Cloud metadata services, named as such so the refusal says what was avoided:
# AWS/GCP/Azure/OpenStack IMDS, AWS IMDS over IPv6, Alibaba Cloud, Oracle Cloud.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        IPv4Address("169.254.169.254"),
        IPv6Address("fd00:ec2::254"),
        IPv4Address("100.100.100.200"),
        IPv4Address("192.0.0.192"),
    }
)

_IPV4_BLOCKS: tuple[tuple[IPv4Network, BlockReason], ...] = (
    (IPv4Network("255.255.255.255/32"), BlockReason.BROADCAST),
    (IPv4Network("0.0.0.0/8"), BlockReason.THIS_NETWORK),
    (IPv4Network("10.0.0.0/8"), BlockReason.PRIVATE),
    (IPv4Network("100.64.0.0/10"), BlockReason.SHARED),
    (IPv4Network("127.0.0.0/8"), BlockReason.LOOPBACK),
    (IPv4Network("169.254.0.0/16"), BlockReason.LINK_LOCAL),
    (IPv4Network("172.16.0.0/12"), BlockReason.PRIVATE),
    (IPv4Network("192.0.0.0/24"), BlockReason.IETF_PROTOCOL),
    (IPv4Network("192.0.2.0/24"), BlockReason.DOCUMENTATION),  # TEST-NET-1
    (IPv4Network("192.168.0.0/16"), BlockReason.PRIVATE),
    (IPv4Network("198.18.0.0/15"), BlockReason.BENCHMARK),
    (IPv4Network("198.51.100.0/24"), BlockReason.DOCUMENTATION),  # TEST-NET-2
    (IPv4Network("203.0.113.0/24"), BlockReason.DOCUMENTATION),  # TEST-NET-3
    (IPv4Network("224.0.0.0/4"), BlockReason.MULTICAST),
    (IPv4Network("240.0.0.0/4"), BlockReason.RESERVED),
)

_IPV6_BLOCKS: tuple[tuple[IPv6Network, BlockReason], ...] = (
    (IPv6Network("::/128"), BlockReason.UNSPECIFIED),
    (IPv6Network("::1/128"), BlockReason.LOOPBACK),
    (IPv6Network("fc00::/7"), BlockReason.PRIVATE),
    (IPv6Network("fe80::/10"), BlockReason.LINK_LOCAL),
    (IPv6Network("fec0::/10"), BlockReason.SITE_LOCAL),
    # RFC 8215 local-use NAT64: the site's translator picks any RFC 6052 prefix
    # length, so the embedded IPv4 cannot be located; every such address is internal.
    (IPv6Network("64:ff9b:1::/48"), BlockReason.LOCAL_NAT64),
    # Documentation prefixes (RFC 3849, RFC 9637): never routed on the internet,
    # so nothing public lives there, but some clouds number internal services in them.
    (IPv6Network("2001:db8::/32"), BlockReason.DOCUMENTATION),
    (IPv6Network("3fff::/20"), BlockReason.DOCUMENTATION),
    (IPv6Network("ff00::/8"), BlockReason.MULTICAST),
)

# Prefixes whose IPv6 addresses carry an IPv4 address in their last 32 bits.
_V4_IN_LOW_32 = (
    IPv6Network("::/96"),  # IPv4-compatible (deprecated), minus :: and ::1 above
    IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
    IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix
)
_SIX_TO_FOUR = IPv6Network("2002::/16")
_TEREDO = IPv6Network("2001::/32")


def classify_address(ip: IPAddress) -> BlockReason | None:
    """The reason `ip` must not be contacted, or `None` when it is public."""
    if ip in METADATA_ADDRESSES:
        return BlockReason.METADATA
    if isinstance(ip, IPv4Address):
        return _classify_v4(ip)
    for network, reason in _IPV6_BLOCKS:
        if ip in network:
            return reason
    for v4 in embedded_ipv4(ip):
        inner = _classify_v4(v4)
        if inner is not None:
            return inner
    return None


def embedded_ipv4(ip: IPv6Address) -> tuple[IPv4Address, ...]:
    """The IPv4 addresses a mapped/compatible/SIIT/NAT64/6to4/Teredo address
    delivers to (Teredo yields server and client); empty for other addresses."""
    value = int(ip)
    if any(ip in network for network in _V4_IN_LOW_32):
        return (IPv4Address(value & 0xFFFFFFFF),)
    if ip in _SIX_TO_FOUR:
        return (IPv4Address((value >> 80) & 0xFFFFFFFF),)
    if ip in _TEREDO:
        server = IPv4Address((value >> 64) & 0xFFFFFFFF)
        client = IPv4Address(~value & 0xFFFFFFFF)
        return (server, client)
    return ()


def unmap(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address the kernel dials."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _classify_v4(ip: IPv4Address) -> BlockReason | None:
    if ip in METADATA_ADDRESSES:
        return BlockReason.METADATA
    for network, reason in _IPV4_BLOCKS:
        if ip in network:
            return reason
    return None
