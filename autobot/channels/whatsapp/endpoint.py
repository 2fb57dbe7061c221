"""Where the WhatsApp bridge listens, judged from `channels.whatsapp` (pure).

One rule for the channel and for `autobot doctor`, so they never disagree:

- `bridge: managed` without `bridge_url`: the Unix socket
  `<bot_dir>/state/whatsapp-bridge.sock` (the gateway starts the bridge
  there; only this user can reach it, the state directory being 0700),
  whose path must fit a socket address (`MAX_SOCKET_PATH` bytes);
- `bridge: managed` with `bridge_url`: a loopback `ws://HOST:PORT` (the
  managed bridge has no certificate settings, so no `wss://`);
- `bridge: external`: `bridge_url` is required; `ws://` only to a loopback
  host (plain WebSocket elsewhere can be read and hijacked on the network),
  or `wss://` anywhere, verified against `bridge_ca_file` or the system CAs.

A URL names a host and an explicit port, and nothing else (no path but `/`,
no query, fragment or credentials): the handshake's MAC covers the request
path, which autobot always opens as `/`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.security.hosts import is_loopback_host

SOCKET_NAME = "whatsapp-bridge.sock"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes, the last one NUL


class EndpointError(ValueError):
    """`bridge_url` cannot be used: `code` (stable, for the doctor), the
    message (`str()`), and `fix`, the change that makes it usable."""

    def __init__(self, code: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.code = code
        self.fix = fix


@attrs.frozen
class UnixEndpoint:
    """The bridge's Unix socket."""

    path: Path

    @property
    def listen(self) -> str:
        """The bridge's `--listen` argument."""
        return f"unix:{self.path}"


@attrs.frozen(kw_only=True)
class UrlEndpoint:
    """The bridge's WebSocket URL (`tls`: wss://)."""

    url: str
    host: str
    port: int
    tls: bool

    @property
    def listen(self) -> str:
        """The bridge's `--listen` argument (scheme, host and port: the URL without `/`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}"


BridgeEndpoint = UnixEndpoint | UrlEndpoint


def socket_path(bot_dir: Path) -> Path:
    """The managed bridge's default Unix socket."""
    return bot_dir / "state" / SOCKET_NAME


def _parse_url(url: str) -> UrlEndpoint:
    bad = EndpointError(
        "whatsapp_bridge_url_invalid",
        f"channels.whatsapp.bridge_url {url!r} is not ws://HOST:PORT or wss://HOST:PORT",
        "Give the bridge's address as ws://127.0.0.1:<port> (or wss://<host>:<port>), "
        "with no path, query or credentials",
    )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad from None
    clean = parts.path in ("", "/") and not (parts.query or parts.fragment)
    if parts.scheme not in ("ws", "wss") or not parts.hostname or port is None or not clean:
        raise bad
    if parts.username is not None or parts.password is not None:
        raise bad
    return UrlEndpoint(url=url, host=parts.hostname, port=port, tls=parts.scheme == "wss")


def bridge_endpoint(config: WhatsAppConfig, bot_dir: Path) -> BridgeEndpoint:
    """Where the channel connects (and a managed bridge listens). Raises
    `EndpointError` for a configuration the channel refuses (module docstring)."""
    url = config.bridge_url
    if url is None:
        if config.bridge is BridgeMode.EXTERNAL:
            raise EndpointError(
                "whatsapp_bridge_url_missing",
                "channels.whatsapp.bridge is external but channels.whatsapp.bridge_url is not set",
                "Set bridge_url to the bridge's ws://127.0.0.1:<port> or wss:// URL, "
                "or use bridge: managed",
            )
        path = socket_path(bot_dir)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise EndpointError(
                "whatsapp_socket_path_too_long",
                f"the managed bridge's Unix socket {path} is longer than the {MAX_SOCKET_PATH} "
                "bytes a socket address holds",
                "Move the bot directory to a shorter path, or set bridge_url: "
                "ws://127.0.0.1:<port>",
            )
        return UnixEndpoint(path)
    endpoint = _parse_url(url)
    if not endpoint.tls and not is_loopback_host(endpoint.host):
        raise EndpointError(
            "whatsapp_bridge_exposed",
            f"WhatsApp bridge_url {url!r} is plain ws:// off loopback: "
            "the bridge connection can be read and hijacked on the network",
            "Run the bridge on this machine (ws://127.0.0.1:<port>), or give it a "
            "certificate and use wss://",
        )
    if endpoint.tls and config.bridge is BridgeMode.MANAGED:
        raise EndpointError(
            "whatsapp_bridge_managed_tls",
            f"channels.whatsapp.bridge is managed but bridge_url {url!r} is wss://: "
            "the managed bridge listens on this machine only (no certificate settings)",
            "Remove bridge_url (a Unix socket in state/) or use ws://127.0.0.1:<port>; "
            "for a bridge on another machine use bridge: external",
        )
    return endpoint
