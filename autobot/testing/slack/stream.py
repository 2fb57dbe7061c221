"""A TCP stream the Slack fake can break the way networks break.

`FaultyStream` wraps the server side of one socket connection: `stall()`
makes it a black hole (nothing received is passed on, nothing sent leaves:
pings go unanswered, as on a half-open connection), `drop()` closes the TCP
connection at once (no WebSocket close frame: the client sees code 1006).
"""

from __future__ import annotations

import attrs
import trio


@attrs.define(eq=False)
class FaultyStream(trio.abc.Stream):
    """`inner` with a stall switch and an abrupt close (see the module docstring)."""

    inner: trio.SocketStream
    stalled: bool = False

    def stall(self) -> None:
        self.stalled = True

    async def drop(self) -> None:
        await self.inner.aclose()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if not self.stalled:
            await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while True:
            data = await self.inner.receive_some(max_bytes)
            if not data or not self.stalled:
                return bytes(data)

    async def aclose(self) -> None:
        await self.inner.aclose()
