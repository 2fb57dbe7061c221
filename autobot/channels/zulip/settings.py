"""The Zulip settings as the channel reads them (pure, light: the doctor imports this).

`site_problem`, `email_problem` and `api_key_problem` say why a value of
`channels.zulip` cannot work (the client refuses the same values);
`access_policy` is who may talk; `stream_names` the streams where a mention
is answered, as the channel compares them.
"""

from __future__ import annotations

import re
import urllib.parse

import attrs

from autobot.channels.access import AccessPolicy
from autobot.config.schema import GroupPolicy, ZulipConfig
from autobot.security.hosts import is_loopback_host

CHANNEL = "zulip"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s:]+@[^@\s:]+")
_API_KEY = re.compile(r"[\x21-\x7e]{1,256}")


@attrs.frozen
class SiteProblem:
    """Why a URL cannot be the Zulip site: `message` says it; `insecure` when
    it is plain http to another machine (the API key would cross the network
    readable)."""

    message: str
    insecure: bool = False


def site_problem(site: str) -> SiteProblem | None:
    """Why `site` cannot be the bot's Zulip server URL, or None: it must be
    https, or http to a loopback host only (a test fake), with no path,
    query, fragment or user information (Zulip is served at the root of its
    host; a trailing slash is fine)."""
    try:
        parts = urllib.parse.urlsplit(site.rstrip("/"))
        host = parts.hostname or ""
    except ValueError:
        return SiteProblem(f"channels.zulip.site is not a URL: {site!r}")
    if parts.scheme not in ("http", "https") or not host:
        return SiteProblem(f"channels.zulip.site must be an https URL, not {site!r}")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return SiteProblem(
            f"channels.zulip.site must be the server's root URL (https://host), not {site!r}"
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        return SiteProblem(
            f"channels.zulip.site must use https (http only to this machine), not {site!r}",
            insecure=True,
        )
    return None


def email_problem(email: str) -> str | None:
    """Why `email` cannot be the bot's login (one `@`, no spaces, colons or
    control characters: it goes into Basic auth), or None."""
    if not isinstance(email, str) or not _EMAIL.fullmatch(email) or _CONTROL.search(email):
        return f"channels.zulip.email is not the bot's email address: {email!r}"
    return None


def api_key_problem(api_key: str) -> str | None:
    """Why `api_key` cannot be a Zulip API key, or None (the message never
    quotes the key)."""
    if not isinstance(api_key, str) or _API_KEY.fullmatch(api_key) is None:
        return "the Zulip API key must be 1-256 printable ASCII characters without spaces"
    return None


def access_policy(config: ZulipConfig) -> AccessPolicy:
    """Who may talk: `allow_from` (user ids or emails) and `dm_policy`; in a
    stream, whoever mentions the bot must pass the same check (the stream
    itself is checked against `streams` by the actor). Raises
    `AccessConfigError` listing every entry that can never match."""
    return AccessPolicy.from_settings(
        CHANNEL,
        allow_from=config.allow_from,
        dm_policy=config.dm_policy,
        group_policy=GroupPolicy.MENTION,
        group_allow_from=("*",),
    )


def stream_names(config: ZulipConfig) -> frozenset[str]:
    """The configured stream names as the actor compares them (Zulip's
    stream names are case-insensitive)."""
    return frozenset(name.strip().casefold() for name in config.streams if name.strip())
