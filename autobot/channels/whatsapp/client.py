"""One authenticated connection to the WhatsApp bridge (trio-websocket).

`connect_bridge(nursery, endpoint, key)` opens the byte stream (a Unix
socket through `trio.open_unix_socket`, or TCP; for `wss://` TLS is
negotiated first, so a certificate that does not verify against the given
context fails at once with its reason), wraps it with trio-websocket's
`wrap_client_stream`, always on the resource `/`,
with no `Origin` header (the bridge refuses every request carrying one:
browsers always send it), frames capped at `MAX_FRAME_BYTES`, then runs the
handshake of the contract:

1. the bridge's `challenge` (its fresh nonce; another protocol version is
   answered with close 4004);
2. our `auth`: a fresh 32-byte client nonce and
   `HMAC(key, "...\\nclient\\n" nonce "\\n" client_nonce "\\n/")`;
3. the bridge's `welcome`, whose MAC (role `bridge`) is checked in constant
   time: a far end that cannot prove it knows the secret is a fake bridge,
   closed with 4001 and refused (`BridgeImpostor`).

The secret itself never crosses the socket. The connection's reader task
runs in the caller's `nursery` (a rejection of the upgrade, e.g. HTTP 403 or
429, surfaces there as trio-websocket's `HandshakeError`); the caller bounds
the whole call with a timeout. Errors: `BridgeUnavailable` and subclasses,
`BridgeIncompatible` (another protocol version: retrying cannot help).
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Callable

import attrs
import trio
from trio_websocket import (
    CloseReason,
    ConnectionClosed,
    WebSocketConnection,
    wrap_client_stream,
)

from autobot.channels.whatsapp.endpoint import BridgeEndpoint, UnixEndpoint
from autobot.channels.whatsapp.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    RESOURCE,
    SECRET_BYTES,
    Auth,
    BridgeFrame,
    Challenge,
    ClientFrame,
    CloseCode,
    FrameTooLarge,
    ProtocolError,
    Welcome,
    bridge_mac,
    client_mac,
    decode_bridge_frame,
    encode_frame,
    mac_matches,
)

# Frames trio-websocket holds before the channel reads them; beyond that it
# stops reading the socket (TCP backpressure holds the bridge).
FRAME_QUEUE_SIZE = 32
CLOSE_SECONDS = 2.0  # a close handshake the bridge does not answer is cut
UNIX_HOST = "localhost"  # the Host header on a Unix socket (the bridge ignores it)

NonceSource = Callable[[int], bytes]


class BridgeUnavailable(Exception):
    """The bridge cannot be used right now (worth retrying later). `code` is
    the WebSocket close code when the bridge closed the connection."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


class BridgeRejected(BridgeUnavailable):
    """The bridge refused our proof (4001): its secret is not ours."""


class BridgeImpostor(BridgeUnavailable):
    """The far end could not prove it knows the secret: not our bridge."""


class BridgeReplaced(BridgeUnavailable):
    """Another client authenticated to the bridge and took our place (4009)."""


class BridgeIncompatible(Exception):
    """The bridge speaks another protocol version (4004): update one side."""


def closed(reason: CloseReason | None) -> BridgeUnavailable | BridgeIncompatible:
    """The error for a connection the bridge (or the network) closed."""
    code = None if reason is None else reason.code
    said = "" if reason is None or not reason.reason else f": {reason.reason[:120]}"
    if code == CloseCode.AUTH_FAILED:
        return BridgeRejected(
            f"the bridge refused our handshake (4001{said}): its secret file differs from "
            "channels.whatsapp.bridge_secret_file",
            code,
        )
    if code == CloseCode.UNSUPPORTED_VERSION:
        return BridgeIncompatible(
            f"the bridge does not speak protocol version {PROTOCOL_VERSION} (4004{said})"
        )
    if code == CloseCode.REPLACED:
        return BridgeReplaced(
            f"another client authenticated to the bridge and replaced this gateway (4009{said})",
            code,
        )
    return BridgeUnavailable(f"the bridge connection closed ({code}{said})", code)


@attrs.define(eq=False)
class BridgeConnection:
    """An authenticated connection: frames in and out (see the module docstring)."""

    socket: WebSocketConnection

    async def receive(self) -> BridgeFrame:
        """The next frame. Raises what `closed` gives when the connection
        ends, after closing it with 1003 for a binary frame or 1009 for an
        oversized one; ProtocolError for a malformed frame (the connection
        stays: the caller decides)."""
        try:
            message = await self.socket.get_message()
        except ConnectionClosed as exc:
            raise closed(exc.reason) from None
        if isinstance(message, bytes):
            await self.close(CloseCode.BINARY_FRAME, "binary frames are not part of the protocol")
            raise BridgeUnavailable("the bridge sent a binary frame (closed 1003)", 1003)
        try:
            return decode_bridge_frame(message)
        except FrameTooLarge:
            await self.close(CloseCode.TOO_BIG, "frame too large")
            raise BridgeUnavailable(
                "the bridge sent an oversized frame (closed 1009)", 1009
            ) from None

    async def send(self, frame: ClientFrame) -> None:
        """Send `frame`. Raises BridgeUnavailable (or BridgeIncompatible) if
        the connection is closed, FrameTooLarge (nothing sent) for a frame
        over the cap."""
        text = encode_frame(frame)
        try:
            await self.socket.send_message(text)
        except ConnectionClosed as exc:
            raise closed(exc.reason) from None

    async def close(self, code: int = CloseCode.NORMAL, reason: str | None = None) -> None:
        """Close with `code`, waiting at most `CLOSE_SECONDS` for the bridge."""
        with trio.move_on_after(CLOSE_SECONDS, shield=True):
            await self.socket.aclose(code, reason)


async def _open_stream(
    endpoint: BridgeEndpoint, ssl_context: ssl.SSLContext | None
) -> tuple[trio.SocketStream | trio.SSLStream[trio.SocketStream], str]:
    """The byte stream to the bridge (TLS already negotiated, so a certificate
    that does not verify fails here, with its reason) and the Host header."""
    if isinstance(endpoint, UnixEndpoint):
        return await trio.open_unix_socket(str(endpoint.path)), UNIX_HOST
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    host_header = f"{host}:{endpoint.port}"
    if not endpoint.tls:
        return await trio.open_tcp_stream(endpoint.host, endpoint.port), host_header
    if ssl_context is None:
        raise ValueError("a wss:// bridge needs an SSL context")
    stream = await trio.open_ssl_over_tcp_stream(
        endpoint.host, endpoint.port, ssl_context=ssl_context, https_compatible=True
    )
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        raise BridgeUnavailable(f"TLS with the bridge failed: {exc.__cause__ or exc}") from exc
    return stream, host_header


async def _open_socket(
    nursery: trio.Nursery, endpoint: BridgeEndpoint, ssl_context: ssl.SSLContext | None
) -> WebSocketConnection:
    try:
        stream, host_header = await _open_stream(endpoint, ssl_context)
    except OSError as exc:
        raise BridgeUnavailable(f"cannot reach the bridge: {exc}") from exc
    try:
        return await wrap_client_stream(
            nursery,
            stream,
            host_header,
            RESOURCE,
            message_queue_size=FRAME_QUEUE_SIZE,
            max_message_size=MAX_FRAME_BYTES,
        )
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def _expect(
    connection: BridgeConnection, kind: type[Challenge] | type[Welcome]
) -> BridgeFrame:
    """The next frame, which must be a `kind`; anything else closes with 4003."""
    try:
        frame = await connection.receive()
    except ProtocolError as exc:
        await connection.close(CloseCode.PROTOCOL_ERROR, "protocol error")
        raise BridgeUnavailable(f"the bridge broke the handshake: {exc}") from None
    if not isinstance(frame, kind):
        await connection.close(CloseCode.PROTOCOL_ERROR, "protocol error")
        raise BridgeUnavailable(
            f"the bridge sent a {type(frame).__name__} frame instead of {kind.__name__.lower()}"
        )
    if frame.version != PROTOCOL_VERSION:
        await connection.close(CloseCode.UNSUPPORTED_VERSION, "unsupported version")
        raise BridgeIncompatible(
            f"the bridge speaks protocol version {frame.version}, autobot {PROTOCOL_VERSION}"
        )
    return frame


async def handshake(
    connection: BridgeConnection, key: bytes, *, nonce_source: NonceSource = secrets.token_bytes
) -> None:
    """Prove we know `key` and check that the bridge does (module docstring).
    Raises BridgeUnavailable, BridgeImpostor, BridgeRejected or BridgeIncompatible."""
    challenge = await _expect(connection, Challenge)
    assert isinstance(challenge, Challenge)
    client_nonce = nonce_source(SECRET_BYTES).hex()
    await connection.send(
        Auth(
            version=PROTOCOL_VERSION,
            client_nonce=client_nonce,
            mac=client_mac(key, challenge.nonce, client_nonce),
        )
    )
    welcome = await _expect(connection, Welcome)
    assert isinstance(welcome, Welcome)
    if not mac_matches(bridge_mac(key, challenge.nonce, client_nonce), welcome.mac):
        await connection.close(CloseCode.AUTH_FAILED, "auth failed")
        raise BridgeImpostor(
            "the far end of the bridge connection could not prove it knows the secret: "
            "it is not autobot's bridge (refused)"
        )


async def connect_bridge(
    nursery: trio.Nursery,
    endpoint: BridgeEndpoint,
    key: bytes,
    *,
    ssl_context: ssl.SSLContext | None = None,
    nonce_source: NonceSource = secrets.token_bytes,
) -> BridgeConnection:
    """An authenticated connection to the bridge at `endpoint` whose reader
    task runs in `nursery` (module docstring). `ssl_context` verifies a
    `wss://` bridge (required for one). Closes what it opened on failure."""
    if len(key) != SECRET_BYTES:
        raise ValueError(f"the bridge key must be {SECRET_BYTES} bytes")
    connection = BridgeConnection(await _open_socket(nursery, endpoint, ssl_context))
    try:
        await handshake(connection, key, nonce_source=nonce_source)
    except BaseException:
        await connection.close(CloseCode.NORMAL)
        raise
    return connection
