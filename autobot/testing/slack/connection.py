"""One Socket Mode connection as the Slack fake sees it.

`FakeConnection` owns the server side of one client connection: its
WebSocket, the `FaultyStream` under it (for `drop` and `stall`), when it
opened and closed, and which envelopes went over it (an ack counts only on
the connection its envelope went over). `send` serialises frames with a lock
and reports a gone connection as False instead of raising.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio
import trio_websocket

from autobot.testing.slack.stream import FaultyStream


@attrs.define(eq=False, kw_only=True)
class FakeConnection:
    """One client connection: its number (1, 2, ...), its WebSocket and stream,
    when it opened and closed, the close code the fake saw, and how many
    connections were open when it opened (itself included)."""

    number: int
    ws: trio_websocket.WebSocketConnection
    stream: FaultyStream
    opened_at: float
    closed_at: float | None = None
    close_code: int | None = None
    open_at_hello: int = 1
    draining: bool = False  # sent a disconnect: used only while no other connection is open
    send_lock: trio.Lock = attrs.field(factory=trio.Lock)
    delivered: dict[str, str] = attrs.field(factory=dict)  # envelope id -> event id

    @property
    def open(self) -> bool:
        return self.closed_at is None

    async def send(self, frame: dict[str, Any]) -> bool:
        """Send one frame; False when the connection is gone."""
        async with self.send_lock:
            try:
                await self.ws.send_message(json.dumps(frame))
            except trio_websocket.ConnectionClosed:
                return False
        return True
