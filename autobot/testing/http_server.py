"""A tiny in-process HTTP/1.1 server on 127.0.0.1 for loopback service fakes.

`serve_http(handler)` listens on an ephemeral loopback port inside the
caller's trio run and yields a `LoopbackServer` with its `base_url`. Each
request is parsed with h11 (the HTTP/1.1 state machine httpx's own transport
uses), its body read in full (Content-Length or chunked), and passed to
`handler` as an `HttpRequest`; the handler returns an `HttpResponse` whose
body is either bytes (sent with Content-Length) or an async iterator of
chunks (sent chunked: what SSE needs), or `HttpResponse.dropped()` to close
the connection without answering. Connections are kept alive. The
server owns no timers, so under `autojump_clock` virtual time only moves
when the handler sleeps or the client waits.

A handler that raises is a bug in the fake: the client gets a 500 and the
exception is re-raised when the `serve_http` block exits.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs
import h11
import trio

MAX_REQUEST_BYTES = 16 * 1024 * 1024  # larger than any conversation a test sends
RECEIVE_CHUNK = 64 * 1024


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One received request; header names are lower-case."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON (raises `ValueError` if it is not JSON)."""
        return json.loads(self.body)


@attrs.frozen(kw_only=True)
class HttpResponse:
    """A response: `body` bytes, or `stream` chunks sent with chunked encoding;
    `drop_connection` closes the connection instead of sending anything."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    drop_connection: bool = False

    @classmethod
    def dropped(cls) -> HttpResponse:
        """No answer at all: the connection is closed (what a crashed peer does)."""
        return cls(status=0, drop_connection=True)

    @classmethod
    def json(
        cls, status: int, payload: object, headers: Mapping[str, str] | None = None
    ) -> HttpResponse:
        """A JSON response with `content-type: application/json`."""
        all_headers = {"content-type": "application/json", **(headers or {})}
        return cls(status=status, headers=all_headers, body=json.dumps(payload).encode())


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


@attrs.define(kw_only=True)
class LoopbackServer:
    """A running server: where it listens and the handler failures it saw."""

    port: int
    failures: list[Exception] = attrs.field(factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@asynccontextmanager
async def serve_http(handler: Handler) -> AsyncIterator[LoopbackServer]:
    """Serve `handler` on 127.0.0.1 until the block exits.

    An exception raised in the block propagates as itself (not wrapped in an
    exception group by the server's nursery). Raises the first handler
    exception (if any) when the block exits normally.
    """
    with single_exceptions_unwrapped():
        async with trio.open_nursery() as nursery:
            server: LoopbackServer | None = None

            async def serve_connection(stream: trio.SocketStream) -> None:
                assert server is not None
                await _serve_connection(stream, handler, server)

            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, serve_connection, 0, host="127.0.0.1")
            )
            server = LoopbackServer(port=listeners[0].socket.getsockname()[1])
            yield server
            nursery.cancel_scope.cancel("serve_http block exited")
    if server.failures:
        raise server.failures[0]


@contextmanager
def single_exceptions_unwrapped() -> Iterator[None]:
    """Around a nursery that yields to a context manager's block: a group
    holding one exception (the block's own) is re-raised as that exception."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def _serve_connection(
    stream: trio.SocketStream, handler: Handler, server: LoopbackServer
) -> None:
    """Answer requests on one connection until either side closes it."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
    async with stream:
        try:
            while True:
                request = await _read_request(stream, connection)
                if request is None:
                    return
                response = await _respond(handler, request, server)
                if response.drop_connection:
                    return
                await _write_response(stream, connection, response)
                if connection.our_state is not h11.DONE or connection.their_state is not h11.DONE:
                    return
                connection.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return  # the client went away or spoke nonsense: drop the connection


async def _respond(handler: Handler, request: HttpRequest, server: LoopbackServer) -> HttpResponse:
    try:
        return await handler(request)
    except Exception as exc:  # noqa: BLE001 -- a bug in the fake: re-raised at block exit
        server.failures.append(exc)
        return HttpResponse.json(500, {"error": f"fake server handler failed: {exc!r}"})


async def _next_event(stream: trio.SocketStream, connection: h11.Connection) -> object:
    while True:
        event = connection.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await stream.receive_some(RECEIVE_CHUNK)
        connection.receive_data(data)  # b"" marks end of stream


async def _read_request(
    stream: trio.SocketStream, connection: h11.Connection
) -> HttpRequest | None:
    """The next full request, or None when the client closed the connection."""
    event = await _next_event(stream, connection)
    if isinstance(event, h11.ConnectionClosed):
        return None
    if not isinstance(event, h11.Request):
        raise h11.RemoteProtocolError(f"expected a request, got {event!r}")
    body = bytearray()
    while True:
        part = await _next_event(stream, connection)
        if isinstance(part, h11.Data):
            body += part.data
        elif isinstance(part, h11.EndOfMessage):
            break
        else:
            raise h11.RemoteProtocolError(f"unexpected {part!r} in a request body")
    return HttpRequest(
        method=event.method.decode(),
        path=event.target.decode(),
        headers={name.decode().lower(): value.decode() for name, value in event.headers},
        body=bytes(body),
    )


async def _write_response(
    stream: trio.SocketStream, connection: h11.Connection, response: HttpResponse
) -> None:
    headers = [(name.encode(), value.encode()) for name, value in response.headers.items()]
    if response.stream is None:
        headers.append((b"content-length", str(len(response.body)).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    await stream.send_all(
        connection.send(h11.Response(status_code=response.status, headers=headers))
    )
    if response.stream is None:
        if response.body:
            await stream.send_all(connection.send(h11.Data(data=response.body)))
    else:
        async for chunk in response.stream:
            await stream.send_all(connection.send(h11.Data(data=chunk)))
    await stream.send_all(connection.send(h11.EndOfMessage()))
