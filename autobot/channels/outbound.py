"""One outbound path per channel: replies routed by `message.channel`.

The composition root owns one `Mailbox` per enabled channel (created once, so
it survives restarts of the channel actor and of the channel supervisor);
`OutboundRouter` holds a sender into each and is what the session actors and
the `message` tool send to. A channel whose network is slow fills only its
own mailbox: a sender waits only when that channel's mailbox is full, and
never for another channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import attrs
import trio

from autobot.channels.base import OutboundMessage


class OutboundSink(Protocol):
    """Where replies go: a `trio.MemorySendChannel` or an `OutboundRouter`."""

    async def send(self, value: OutboundMessage) -> None: ...

    def send_nowait(self, value: OutboundMessage) -> None: ...


class UnknownChannel(Exception):
    """A reply for a channel that is not enabled in this gateway."""


@attrs.define(kw_only=True, eq=False)
class OutboundRouter:
    """Routes each `OutboundMessage` to the mailbox of its channel.

    `mailboxes` maps a channel name to a sender (owned by the router). Raises
    UnknownChannel for a channel with no mailbox, `trio.WouldBlock` from
    `send_nowait` when that channel's mailbox is full.
    """

    mailboxes: Mapping[str, trio.MemorySendChannel[OutboundMessage]]

    def _mailbox(self, channel: str) -> trio.MemorySendChannel[OutboundMessage]:
        try:
            return self.mailboxes[channel]
        except KeyError:
            raise UnknownChannel(f"channel '{channel}' is not enabled") from None

    async def send(self, value: OutboundMessage) -> None:
        await self._mailbox(value.channel).send(value)

    def send_nowait(self, value: OutboundMessage) -> None:
        self._mailbox(value.channel).send_nowait(value)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.mailboxes)

    def close(self) -> None:
        for sender in self.mailboxes.values():
            sender.close()
