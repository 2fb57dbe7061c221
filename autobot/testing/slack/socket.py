"""The Slack fake's Socket Mode side: WebSocket connections and envelope delivery.

`serve_sockets(fake, task_status=...)` (`fake` is the server's `SlackState`) listens on 127.0.0.1 (its port is the
`started` value). A connection must name a ticket `apps.connections.open`
issued (`/link/?ticket=...`, single use), else it is rejected with 401.
Each accepted connection gets `hello` first; what the client sends is read
as acknowledgements (`{"envelope_id": ...}`).

`deliver_envelopes(fake)` sends every queued event, one envelope per try,
round-robin over the open connections (Slack may use any of them), except
that a connection sent a `disconnect` is used only while no other is open. An event
not acknowledged within `fake.retry_seconds` of a try is sent again with
`retry_attempt` 1, 2, ... and `retry_reason` "timeout", at most
`fake.max_retries` times, then given up (`fake.lost`). An event waits while
no connection is open. Each try is a new envelope id; an ack counts only on
the connection the envelope went over.
"""

from __future__ import annotations

import functools
import json
import math
import urllib.parse

import trio
import trio_websocket
import wsproto.utilities

from autobot.testing.slack.connection import FakeConnection
from autobot.testing.slack.events import APP_ID
from autobot.testing.slack.records import Ack, Delivery
from autobot.testing.slack.state import PendingEvent, SlackState
from autobot.testing.slack.stream import FaultyStream

MAX_FRAME_BYTES = 1024 * 1024


async def serve_sockets(fake: SlackState, *, task_status: trio.TaskStatus[int]) -> None:
    """Listen for Socket Mode connections (see the module docstring)."""
    handler = functools.partial(_serve_connection, fake)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with trio.open_nursery() as nursery:
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(handler, listeners, handler_nursery=nursery)


async def _serve_connection(fake: SlackState, tcp: trio.SocketStream) -> None:
    try:
        await _serve_websocket(fake, FaultyStream(tcp))
    except* wsproto.utilities.LocalProtocolError:
        pass  # trio-websocket answering a ping while it closes: the connection is gone


async def _serve_websocket(fake: SlackState, stream: FaultyStream) -> None:
    async with trio.open_nursery() as nursery:
        request = await trio_websocket.wrap_server_stream(
            nursery, stream, max_message_size=MAX_FRAME_BYTES
        )
        ticket = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query).get("ticket")
        if not ticket or ticket[0] not in fake.tickets:
            await request.reject(401, body=b"invalid ticket")
            nursery.cancel_scope.cancel("rejected")
            return
        fake.tickets.discard(ticket[0])
        ws = await request.accept()
        connection = FakeConnection(
            number=len(fake.connections) + 1, ws=ws, stream=stream, opened_at=trio.current_time()
        )
        fake.connections.append(connection)
        connection.open_at_hello = len(fake.open_connections())
        await connection.send(
            {
                "type": "hello",
                "num_connections": connection.open_at_hello,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }
        )
        fake.changed()
        try:
            while True:
                _acknowledged(fake, connection, await ws.get_message())
        except trio_websocket.ConnectionClosed as closed:
            connection.close_code = None if closed.reason is None else closed.reason.code
        finally:
            connection.closed_at = trio.current_time()
            fake.changed()
            nursery.cancel_scope.cancel("the connection closed")


def _acknowledged(fake: SlackState, connection: FakeConnection, message: str | bytes) -> None:
    try:
        frame = json.loads(message)
    except ValueError:
        frame = None
    envelope_id = frame.get("envelope_id") if isinstance(frame, dict) else None
    if not isinstance(envelope_id, str):
        fake.garbage.append(message if isinstance(message, str) else repr(message))
        fake.changed()
        return
    event_id = connection.delivered.get(envelope_id)
    fake.acks.append(
        Ack(
            envelope_id=envelope_id,
            connection=connection.number,
            known=event_id is not None,
            at=trio.current_time(),
        )
    )
    if event_id is not None and not fake.ignore_acks:
        fake.pending = [p for p in fake.pending if p.event_id != event_id]
    fake.changed()


async def deliver_envelopes(fake: SlackState) -> None:
    """Send queued events and their retries, forever (see the module docstring)."""
    turn = 0
    while True:
        version = fake.version
        now = trio.current_time()
        expired = [p for p in fake.pending if p.attempt > fake.max_retries and p.due <= now]
        if expired:
            fake.pending = [p for p in fake.pending if p not in expired]
            fake.lost.extend(p.event_id for p in expired)
            fake.changed()
            continue
        ready = [p for p in fake.pending if p.due <= now and p.attempt <= fake.max_retries]
        targets = [c for c in fake.open_connections() if not c.draining]
        targets = targets or fake.open_connections()
        if ready and targets:
            connection = targets[turn % len(targets)]
            turn += 1
            await _deliver(fake, connection, ready[0])
            continue
        waiting = [p.due for p in fake.pending if p.due > now]
        with trio.move_on_at(min(waiting) if waiting else math.inf):
            await fake.wait_for_change(version)


async def _deliver(fake: SlackState, connection: FakeConnection, pending: PendingEvent) -> None:
    fake.envelope_count += 1
    envelope_id = f"env-{fake.envelope_count:06d}-{pending.event_id}"
    frame = {
        "envelope_id": envelope_id,
        "type": "events_api",
        "payload": pending.payload,
        "accepts_response_payload": False,
        "retry_attempt": pending.attempt,
        "retry_reason": "timeout" if pending.attempt else "",
    }
    connection.delivered[envelope_id] = pending.event_id
    now = trio.current_time()
    fake.deliveries.append(
        Delivery(
            envelope_id=envelope_id,
            event_id=pending.event_id,
            connection=connection.number,
            retry_attempt=pending.attempt,
            at=now,
        )
    )
    pending.attempt += 1
    pending.due = now + fake.retry_seconds
    await connection.send(frame)
    fake.changed()
