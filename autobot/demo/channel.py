"""The demo channel: plays the user of conversation `demo:local`.

`DemoChannel.ask(text)` sends one `InboundMessage` to the session router and
waits for the turn's final `OutboundMessage`, collecting progress messages
(the `message` tool) on the way. Messages for other conversations are not
ours and are skipped. Timeouts belong to the caller.
"""

from __future__ import annotations

import attrs
import trio

from autobot.channels.base import InboundMessage, OutboundMessage

DEMO_CHANNEL = "demo"
DEMO_CHAT_ID = "local"
DEMO_SENDER = "demo-user"


@attrs.frozen(kw_only=True)
class Reply:
    """A turn's final reply and the progress messages sent before it."""

    final: OutboundMessage
    progress: tuple[OutboundMessage, ...] = ()


@attrs.define(kw_only=True, eq=False)
class DemoChannel:
    """Borrows `inbound` (a sender into the router) and `outbound` (every reply)."""

    inbound: trio.MemorySendChannel[InboundMessage]
    outbound: trio.MemoryReceiveChannel[OutboundMessage]
    channel: str = DEMO_CHANNEL
    chat_id: str = DEMO_CHAT_ID

    async def ask(self, text: str) -> Reply:
        """Send `text`; return the final reply. Raises `trio.EndOfChannel` if the
        outbox closes first."""
        await self.inbound.send(
            InboundMessage(
                channel=self.channel, chat_id=self.chat_id, content=text, sender_id=DEMO_SENDER
            )
        )
        progress: list[OutboundMessage] = []
        async for message in self.outbound:
            if message.channel != self.channel or message.chat_id != self.chat_id:
                continue
            if message.final:
                return Reply(final=message, progress=tuple(progress))
            progress.append(message)
        raise trio.EndOfChannel("the outbox closed before the reply")
