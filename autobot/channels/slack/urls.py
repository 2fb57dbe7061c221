"""Where the Slack channel may send its tokens and open its socket (pure).

- `check_api_base`: the Web API base is https, or http only to a loopback
  host (a test fake); no user information, query or fragment.
- `file_url_allowed`: a file download or upload URL (and every redirect on
  the way) is https to a Slack host (`slack.com`, `slack-edge.com`,
  `slack-files.com` or a subdomain, default port), or exactly the API base's
  own origin. The bot token goes nowhere else.
- `socket_url_allowed`: the Socket Mode URL `apps.connections.open` returned
  is `wss://` to a Slack host, or `ws(s)://` to a loopback host.
"""

from __future__ import annotations

import urllib.parse

from autobot.security.hosts import is_loopback_host

SLACK_DOMAINS = ("slack.com", "slack-edge.com", "slack-files.com")
MAX_URL_LENGTH = 4096
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _split(url: str) -> urllib.parse.SplitResult | None:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not url.isprintable():
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if any(char.isspace() for char in url):
        return None
    return parts


def _port(parts: urllib.parse.SplitResult) -> int | None:
    return parts.port if parts.port is not None else _DEFAULT_PORTS.get(parts.scheme)


def is_slack_host(host: str) -> bool:
    """`host` is one of `SLACK_DOMAINS` or a subdomain of one (any case)."""
    name = host.lower().rstrip(".")
    return any(name == domain or name.endswith("." + domain) for domain in SLACK_DOMAINS)


def check_api_base(url: str) -> str:
    """`url` without a trailing slash; raises ValueError unless it is https, or
    http to a loopback host, without user information (never echoed), query
    or fragment."""
    try:
        userinfo = "@" in urllib.parse.urlsplit(url).netloc
    except ValueError:
        userinfo = False
    if userinfo:
        raise ValueError("api_base must not carry user information")
    parts = _split(url)
    if parts is None or parts.scheme not in ("http", "https") or parts.query or parts.fragment:
        raise ValueError(f"api_base must be an http(s) URL without query, not {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise ValueError(f"api_base must use https unless its host is loopback, not {url!r}")
    return url.rstrip("/")


def _origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int | None]:
    return parts.scheme, (parts.hostname or "").lower(), _port(parts)


def file_url_allowed(url: str, api_base: str) -> bool:
    """Whether the bot token may be sent to `url` (see the module docstring)."""
    parts = _split(url)
    base = _split(api_base)
    if parts is None or base is None:
        return False
    if parts.scheme == "https" and is_slack_host(parts.hostname or "") and _port(parts) == 443:
        return True
    return _origin(parts) == _origin(base)


def socket_url_allowed(url: str) -> bool:
    """Whether a Socket Mode URL may be connected to (see the module docstring)."""
    parts = _split(url)
    if parts is None or parts.scheme not in ("ws", "wss"):
        return False
    host = parts.hostname or ""
    if is_loopback_host(host):
        return True
    return parts.scheme == "wss" and is_slack_host(host)
