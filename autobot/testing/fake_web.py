"""Loopback HTTP(S) servers and a scripted resolver for web tool tests.

`start_fake_web(nursery, routes)` serves a tiny HTTP/1.1 server on
127.0.0.1 (TLS when given a server `ssl_context`) that answers each request
path from `routes` with a `FakeRoute` (static, stalling, endless or
trickling body) and records every `FakeRequest`. One request per connection
(`Connection: close`). `FakeResolver` answers host names from a script and
counts its calls. `brave_body` builds a Brave Search API answer.
"""

from __future__ import annotations

import enum
import json
import ssl
from collections.abc import Mapping, Sequence
from ipaddress import ip_address

import attrs
import trio

from autobot.security.ssrf_address import IPAddress

_MAX_REQUEST_HEAD = 64 * 1024
_CHUNK = b"x" * 16384


class Behaviour(enum.Enum):
    """How a route sends its response."""

    NORMAL = "normal"
    STALL_BEFORE_HEADERS = "stall_before_headers"
    STALL_AFTER_HEADERS = "stall_after_headers"
    ENDLESS = "endless"  # headers, then body bytes until the client hangs up
    TRICKLE = "trickle"  # the body one byte at a time, `trickle_interval` apart


@attrs.frozen(kw_only=True)
class FakeRoute:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain"),)
    body: bytes = b""
    behaviour: Behaviour = Behaviour.NORMAL
    trickle_interval: float = 0.05


@attrs.frozen(kw_only=True)
class FakeRequest:
    method: str
    target: str
    headers: Mapping[str, str]  # lower-case names


@attrs.define(kw_only=True)
class FakeWebServer:
    """A running server: its port, routes (mutable by the test) and requests seen."""

    port: int
    routes: dict[str, FakeRoute]
    requests: list[FakeRequest] = attrs.field(factory=list)
    stop: trio.CancelScope = attrs.field(factory=trio.CancelScope)


async def start_fake_web(
    nursery: trio.Nursery,
    routes: dict[str, FakeRoute],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> FakeWebServer:
    """Serve `routes` on 127.0.0.1 (a free port) inside `nursery`; cancel
    `server.stop` (or the nursery) to shut it down."""
    server = FakeWebServer(port=0, routes=routes)

    async def handler(stream: trio.abc.Stream) -> None:
        try:
            await _serve_one(server, stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return  # the client hung up (or failed the TLS handshake): normal in tests

    async def serve(*, task_status: trio.TaskStatus[int]) -> None:
        with server.stop:
            listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
            task_status.started(listeners[0].socket.getsockname()[1])
            if ssl_context is None:
                await trio.serve_listeners(handler, listeners)
            else:
                ssl_listeners = [trio.SSLListener(lst, ssl_context) for lst in listeners]
                await trio.serve_listeners(handler, ssl_listeners)

    server.port = await nursery.start(serve)
    return server


async def _serve_one(server: FakeWebServer, stream: trio.abc.Stream) -> None:
    head = await _read_head(stream)
    if head is None:
        return
    request = _parse_head(head)
    server.requests.append(request)
    path = request.target.split("?", 1)[0]
    route = server.routes.get(path, FakeRoute(status=404, body=b"not found"))
    if route.behaviour is Behaviour.STALL_BEFORE_HEADERS:
        await trio.sleep_forever()
    endless = route.behaviour is Behaviour.ENDLESS
    await stream.send_all(_response_head(route, chunked=endless))
    if route.behaviour is Behaviour.STALL_AFTER_HEADERS:
        await trio.sleep_forever()
    if endless:
        chunk = b"%x\r\n%b\r\n" % (len(_CHUNK), _CHUNK)
        while True:
            await stream.send_all(chunk)
    if route.behaviour is Behaviour.TRICKLE:
        for index in range(len(route.body)):
            await stream.send_all(route.body[index : index + 1])
            await trio.sleep(route.trickle_interval)
    else:
        await stream.send_all(route.body)
    await stream.aclose()


async def _read_head(stream: trio.abc.Stream) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(4096)
        if not chunk or len(data) > _MAX_REQUEST_HEAD:
            return None
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0]


def _parse_head(head: bytes) -> FakeRequest:
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return FakeRequest(method=method, target=target, headers=headers)


def _response_head(route: FakeRoute, *, chunked: bool) -> bytes:
    lines = [f"HTTP/1.1 {route.status} Fake", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in route.headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(route.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@attrs.define
class FakeResolver:
    """Answers each host from `script`: successive calls take successive
    answers (the last one repeats); unknown hosts raise `OSError`."""

    script: Mapping[str, Sequence[Sequence[str]]]
    calls: list[str] = attrs.field(factory=list)

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        await trio.lowlevel.checkpoint()
        answers = self.script.get(host)
        if not answers:
            raise OSError(f"fake resolver: unknown host {host!r}")
        index = min(self.calls.count(host), len(answers) - 1)
        self.calls.append(host)
        return [ip_address(a) for a in answers[index]]


def brave_body(results: Sequence[tuple[str, str, str]]) -> bytes:
    """A Brave Search API answer with `(title, url, description)` results."""
    items = [{"title": t, "url": u, "description": d} for t, u, d in results]
    return json.dumps({"type": "search", "web": {"results": items}}).encode()
