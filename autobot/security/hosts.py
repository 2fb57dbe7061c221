"""Is a listen address or URL host loopback-only? (pure)"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """True only for hosts that cannot be reached from another machine.

    Accepts IPv4/IPv6 literals (optionally in `[...]`) in the loopback ranges
    and the name `localhost` (any case, optional trailing dot). Everything
    else, including `0.0.0.0`, `::`, LAN addresses, other host names and the
    empty string (which binds every interface), is not loopback.
    """
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str | None:
    """The host part of `url`, or None when the URL has none or cannot be parsed."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
