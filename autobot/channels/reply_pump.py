"""A channel actor's sending loop: replies from its mailbox, in order, until a graceful stop (Trio).

`ReplyPump.run` hands each reply in the channel's outbox to `deliver`, one
at a time. A graceful stop (`stopping` set, then `stop` called by the task
that watches it) ends the wait for the next reply; the replies already
queued are still delivered, then `run` returns. `ReplyPump` owns the cancel
scope of that wait, nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import trio

from autobot.channels.base import OutboundMessage


@attrs.define(kw_only=True, eq=False)
class ReplyPump:
    """The sending loop of one channel incarnation (see the module docstring)."""

    _idle: trio.CancelScope | None = attrs.field(init=False, default=None)

    def stop(self, reason: str) -> None:
        """End the wait for the next reply (if `run` is waiting), for `reason`."""
        if self._idle is not None:
            self._idle.cancel(reason)

    async def run(
        self,
        outbox: trio.MemoryReceiveChannel[OutboundMessage],
        stopping: trio.Event,
        deliver: Callable[[OutboundMessage], Awaitable[None]],
    ) -> None:
        """Deliver replies as they come; once stopping, those already queued, then end."""
        while not stopping.is_set():
            with trio.CancelScope() as idle:
                self._idle = idle
                try:
                    message = await outbox.receive()
                finally:
                    self._idle = None
            if idle.cancelled_caught:
                break
            await deliver(message)
        while True:
            try:
                message = outbox.receive_nowait()
            except trio.WouldBlock:
                return
            await deliver(message)
