"""An httpcore network backend that dials only pre-validated addresses.

httpcore keeps the URL's host for the Host header, TLS SNI and certificate
checks; this backend replaces only the TCP destination. `connect_tcp` ignores
DNS entirely: it dials the pinned addresses (in order, falling back on a
connection error) and refuses any other host or port, so a parser
difference or a redirect handled behind our back cannot reach elsewhere.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable

import attrs
import httpcore

from autobot.security.ssrf_resolve import PinnedTarget


@attrs.define(kw_only=True)
class PinnedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Dials `target.addresses` for `target`'s host and port; nothing else.

    `inner` does the real I/O (`httpcore.TrioBackend()` in production).
    Raises `httpcore.ConnectError` for any other destination or a Unix socket.
    """

    target: PinnedTarget
    inner: httpcore.AsyncNetworkBackend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        url = self.target.url
        if host != url.host.name or port != url.port:
            raise httpcore.ConnectError(f"pinned connection refuses {host}:{port}")
        last_error = httpcore.ConnectError(f"no validated address to dial for {host}")
        for address in self.target.addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("pinned connection refuses Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
