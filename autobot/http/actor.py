"""The HTTP actor: health and metrics on `gateway.host:gateway.port`.

Served by hypercorn's trio worker (a well-kept HTTP/1.1 server; we do not
write our own). Routes: `GET /healthz` -> `ok`, or 503 with one line per
problem the injected `health` source reports (an enabled channel down longer
than its grace, or stopped); `GET /metrics` -> Prometheus text built from
the injected `metrics` source at request time; `POST` on a webhook path (the
injected `webhooks`, e.g. `/telegram/webhook`) -> that channel's endpoint,
with the body capped at `MAX_WEBHOOK_BODY` (413 beyond). Anything else is
404; other methods are 405.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any, cast

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from hypercorn.typing import ASGIFramework

from autobot.http.body import BodyTooLarge, Overflow, read_capped
from autobot.http.metrics import Metric, render_prometheus
from autobot.http.webhooks import WebhookHandler
from autobot.logs.records import Logger

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PROMETHEUS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
MAX_WEBHOOK_BODY = 1024 * 1024  # a Telegram update is a few KB; files come by file_id


@attrs.define(kw_only=True)
class HealthMetricsApp:
    """The ASGI application: owns nothing but its metrics and health sources."""

    metrics: Callable[[], Iterable[Metric]]
    health: Callable[[], list[str]] = list
    webhooks: Mapping[str, WebhookHandler] = attrs.field(factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path in self.webhooks:
            await self._webhook(self.webhooks[path], scope, receive, send)
        elif path not in ("/healthz", "/metrics"):
            await _respond(send, 404, b"text/plain", b"not found\n")
        elif method not in ("GET", "HEAD"):
            await _respond(send, 405, b"text/plain", b"method not allowed\n", allow=b"GET, HEAD")
        elif path == "/healthz":
            problems = self.health()
            status, text = (503, "\n".join(problems) + "\n") if problems else (200, "ok\n")
            await _respond(send, status, b"text/plain", text.encode(), head=method == "HEAD")
        else:
            metrics = render_prometheus(self.metrics()).encode()
            await _respond(send, 200, PROMETHEUS_CONTENT_TYPE, metrics, head=method == "HEAD")

    async def _webhook(
        self, handler: WebhookHandler, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["method"] != "POST":
            await _respond(send, 405, b"text/plain", b"method not allowed\n", allow=b"POST")
            return
        try:
            body = (
                await read_capped(_request_chunks(receive), MAX_WEBHOOK_BODY, Overflow.REFUSE)
            ).data
        except BodyTooLarge:
            await _respond(send, 413, b"text/plain", b"too large\n")
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        answer = await handler(headers, body)
        await _respond(send, answer.status, b"text/plain", answer.body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _request_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as the ASGI server hands them over."""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _respond(
    send: Send,
    status: int,
    content_type: bytes,
    body: bytes,
    *,
    head: bool = False,
    allow: bytes | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


@attrs.define(kw_only=True)
class HttpActor:
    """Serves `HealthMetricsApp` until cancelled or until `stopping` is set.

    Ready once the socket listens; `on_listening(url)` then receives the bound
    URL (e.g. `http://127.0.0.1:18790`), so port 0 works in tests.
    """

    host: str
    port: int
    metrics: Callable[[], Iterable[Metric]]
    logger: Logger
    health: Callable[[], list[str]] = list
    webhooks: Mapping[str, WebhookHandler] = attrs.field(factory=dict)
    stopping: trio.Event = attrs.field(factory=trio.Event)
    on_listening: Callable[[str], None] = lambda url: None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = _bind_listener(self.host, self.port)
        config = HypercornConfig()
        # hypercorn adopts the already-bound socket: a bind failure surfaces here,
        # before any nursery, as a plain OSError naming the address.
        config.bind = [f"fd://{listener.detach()}"]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 2.0
        # Our app speaks plain ASGI dicts; hypercorn's TypedDict signature is stricter.
        app = cast(
            ASGIFramework,
            HealthMetricsApp(metrics=self.metrics, health=self.health, webhooks=self.webhooks),
        )
        serve_app = functools.partial(serve, app, config, shutdown_trigger=self.stopping.wait)
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(serve_app)
            url = binds[0]
            self.logger.info(f"HTTP listening on {url}", url=url)
            self.on_listening(url)
            task_status.started()


def _bind_listener(host: str, port: int) -> socket.socket:
    """A bound TCP socket for `host:port`; raises OSError naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
