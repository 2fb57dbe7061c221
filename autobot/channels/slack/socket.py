"""One Socket Mode WebSocket: opened, read, acknowledged on, closed (the I/O shell).

`run_socket(api, number=..., deliver=..., on_unknown=...)` (a task started
with `nursery.start`) calls apps.connections.open (app token), connects to
the URL it returned with trio-websocket and waits for the `hello` frame,
reports the `SocketConnection` started, then serves it until it closes.
Before it is started it raises `SocketTrouble` (transient: connect failure,
no hello in `HELLO_SECONDS`, closed at once), `SocketDisabled` (the first
frame is a `link_disabled` disconnect) or the `SlackError` of the open call.

Serving (`SocketConnection.serve`) reads frames until the connection
closes, and pings every `PING_SECONDS`: a ping without a pong
within `PONG_SECONDS` (a silent, half-open connection) closes it, so a stall
is noticed and the channel reconnects. It reads:
each envelope goes to `deliver` (the channel acknowledges it once it is
journaled, with `ack`, on this same connection), a `disconnect` frame is
noted: `warning` and `refresh_requested` set `replace` (the channel opens
the next socket before this one closes, so nothing is lost in between);
`link_disabled` sets `disabled` and `replace`. `ended` is set when the
connection is gone, `close_code` says how. A replaced socket is `retire`d:
read until Slack closes it (bounded), so nothing Slack sent on it is lost;
`in_flight` counts envelopes delivered and not yet acknowledged, which a
retiring socket waits for (bounded) before it closes itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import attrs
import trio
import trio_websocket
import wsproto.utilities

from autobot.channels.slack.api import SlackApi
from autobot.channels.slack.events import Disconnect, Envelope, Hello, Unknown, parse_frame

HELLO_SECONDS = 30.0  # connect plus the first frame
PING_SECONDS = 10.0  # between two pings (Slack's own SDKs ping every 5-10 s)
PONG_SECONDS = 5.0  # a ping unanswered this long means the connection is dead
CLOSE_SECONDS = 5.0  # the closing handshake, after which the socket is just dropped
RETIRE_SECONDS = 20.0  # a replaced socket is read until Slack closes it (~10 s), or this long
RETIRE_ACK_SECONDS = 5.0  # then it waits this long for its envelopes' acks
MAX_FRAME_BYTES = 1024 * 1024  # Slack's payloads are a few KB; 1 MiB is generous
REFRESH_REASONS = frozenset({"warning", "refresh_requested"})
LINK_DISABLED = "link_disabled"


class SocketTrouble(Exception):
    """The socket could not be opened or said nothing useful: try again later."""


class SocketDisabled(Exception):
    """Slack says Socket Mode is turned off for this app (`link_disabled`)."""


@attrs.frozen(kw_only=True)
class Received:
    """An envelope and the connection it came on (where its ack goes)."""

    connection: SocketConnection
    envelope: Envelope


@attrs.define(eq=False, kw_only=True)
class SocketConnection:
    """One open WebSocket (see the module docstring); `opened_at` in trio time."""

    number: int
    ws: trio_websocket.WebSocketConnection
    opened_at: float
    replace: trio.Event = attrs.field(factory=trio.Event)
    ended: trio.Event = attrs.field(factory=trio.Event)
    disconnect_reason: str | None = None
    close_code: int | None = None
    in_flight: int = 0
    stalled: bool = False
    _settled: trio.Event = attrs.field(factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        self._settled.set()

    @property
    def disabled(self) -> bool:
        return self.disconnect_reason == LINK_DISABLED

    async def serve(
        self,
        deliver: trio.MemorySendChannel[Received],
        on_unknown: Callable[[SocketConnection, str], None],
    ) -> None:
        """`read` while `keep_alive` watches the connection; both end with it."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.keep_alive)
            await self.read(deliver, on_unknown)
            nursery.cancel_scope.cancel("the socket closed")

    async def keep_alive(self) -> None:
        """Ping every `PING_SECONDS`; no pong within `PONG_SECONDS` closes the
        connection (`stalled`)."""
        while True:
            await trio.sleep(PING_SECONDS)
            with trio.move_on_after(PONG_SECONDS) as waiting:
                try:
                    await self.ws.ping()
                except trio_websocket.ConnectionClosed:
                    return
            if waiting.cancelled_caught:
                self.stalled = True
                await self.close()
                return

    async def read(
        self,
        deliver: trio.MemorySendChannel[Received],
        on_unknown: Callable[[SocketConnection, str], None],
    ) -> None:
        """Read frames until the connection closes (see the module docstring);
        `on_unknown` is told about each frame it does not understand."""
        try:
            while True:
                message = await self.ws.get_message()
                if isinstance(message, bytes):
                    on_unknown(self, "a binary frame")
                    continue
                frame = parse_frame(message)
                if isinstance(frame, Envelope):
                    if self.in_flight == 0:
                        self._settled = trio.Event()
                    self.in_flight += 1
                    await deliver.send(Received(connection=self, envelope=frame))
                elif isinstance(frame, Disconnect):
                    self.disconnect_reason = frame.reason
                    if frame.reason in REFRESH_REASONS or frame.reason == LINK_DISABLED:
                        self.replace.set()
                elif isinstance(frame, Unknown):
                    on_unknown(self, frame.what)
        except trio_websocket.ConnectionClosed as closed:
            self.close_code = None if closed.reason is None else closed.reason.code
        finally:
            self.ended.set()
            self.replace.set()

    async def ack(self, envelope_id: str) -> bool:
        """Acknowledge one envelope; False when the connection is already closed
        (Slack then redelivers it, and the journal drops the duplicate)."""
        self.in_flight = max(self.in_flight - 1, 0)
        if self.in_flight == 0:
            self._settled.set()
        try:
            await self.ws.send_message(json.dumps({"envelope_id": envelope_id}))
        except trio_websocket.ConnectionClosed:
            return False
        return True

    async def retire(self) -> None:
        """A replaced socket: keep reading (and acknowledging) until Slack closes
        it, at most `RETIRE_SECONDS`; then wait (at most `RETIRE_ACK_SECONDS`)
        until every envelope read here is acknowledged, and close it."""
        with trio.move_on_after(RETIRE_SECONDS):
            await self.ended.wait()
        with trio.move_on_after(RETIRE_ACK_SECONDS):
            await self._settled.wait()
        await self.close()

    async def close(self) -> None:
        """The closing handshake, bounded by `CLOSE_SECONDS` (shielded: also on
        the way out of a cancelled scope)."""
        with trio.move_on_after(CLOSE_SECONDS, shield=True):
            await self.ws.aclose()


async def run_socket(
    api: SlackApi,
    *,
    number: int,
    deliver: trio.MemorySendChannel[Received],
    on_unknown: Callable[[SocketConnection, str], None],
    task_status: trio.TaskStatus[SocketConnection],
) -> None:
    """Open a connection (see the module docstring), report it `started` after
    its hello, then `serve` it until it closes. Raises, before it is started,
    the `SlackError` of apps.connections.open, `SocketTrouble` or
    `SocketDisabled`."""
    url = await api.open_connection()
    failure: Exception | None = None
    try:
        async with trio.open_nursery() as nursery:  # owns the WebSocket's reader task
            try:
                connection = await _connect(nursery, url, number)
            except (SocketTrouble, SocketDisabled) as exc:
                failure = exc
            else:
                task_status.started(connection)
                await connection.serve(deliver, on_unknown)
            nursery.cancel_scope.cancel("the socket is closed")
    except* wsproto.utilities.LocalProtocolError:
        # trio-websocket answering a ping on a connection that is closing: it is
        # gone either way, and `serve` has noted that (its reader ended)
        pass
    if failure is not None:
        raise failure


async def _connect(nursery: trio.Nursery, url: str, number: int) -> SocketConnection:
    """Connect to `url` and read its first frame, which must be hello."""
    ws: trio_websocket.WebSocketConnection | None = None
    failure: Exception | None = None
    first: object = None
    try:
        with trio.fail_after(HELLO_SECONDS):
            ws = await trio_websocket.connect_websocket_url(
                nursery, url, max_message_size=MAX_FRAME_BYTES
            )
            first = parse_frame(_text(await ws.get_message()))
    except trio.TooSlowError:
        failure = SocketTrouble(f"no hello within {HELLO_SECONDS:g} s")
    except trio_websocket.ConnectionClosed as closed:
        code = None if closed.reason is None else closed.reason.code
        failure = SocketTrouble(f"closed before its hello (code {code})")
    except (trio_websocket.HandshakeError, OSError) as exc:
        failure = SocketTrouble(f"cannot connect: {type(exc).__name__}")
    if failure is None and isinstance(first, Disconnect) and first.reason == LINK_DISABLED:
        failure = SocketDisabled("Socket Mode is turned off for this app (link_disabled)")
    elif failure is None and not isinstance(first, Hello):
        failure = SocketTrouble("the first frame was not hello")
    if failure is not None:
        if ws is not None:
            with trio.move_on_after(CLOSE_SECONDS, shield=True):
                await ws.aclose()
        raise failure
    assert ws is not None
    return SocketConnection(number=number, ws=ws, opened_at=trio.current_time())


def _text(message: str | bytes) -> str:
    return message if isinstance(message, str) else ""
