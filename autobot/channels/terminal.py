"""The terminal channel behind `autobot agent`: stdin in, stdout out.

`TerminalChannel` is a channel like the chat ones: it turns what the user
types into `InboundMessage`s for the session router and prints every
`OutboundMessage` of its conversation. `ask_once` sends one message and
returns the turn's final reply (printing progress messages before it);
`chat` runs an interactive session until EOF, `exit` or `quit`, then waits
for the replies still owed. Lines are read in a worker thread (a blocking
`readline` cannot be cancelled, so the thread is abandoned on cancellation).
"""

from __future__ import annotations

from typing import TextIO

import attrs
import trio

from autobot.channels.base import InboundMessage, OutboundMessage

EXIT_WORDS = frozenset({"exit", "quit"})
PROMPT = "you> "
REPLY_PREFIX = "autobot> "


@attrs.define(kw_only=True, eq=False)
class TerminalChannel:
    """One terminal conversation `channel:chat_id` (`cli:default` by default)."""

    channel: str
    chat_id: str
    inbound: trio.MemorySendChannel[InboundMessage]
    outbound: trio.MemoryReceiveChannel[OutboundMessage]
    stdin: TextIO
    stdout: TextIO
    reader: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    _owed: int = attrs.field(init=False, default=0)
    _settled: trio.Event = attrs.field(init=False, factory=trio.Event)

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def _send(self, text: str) -> None:
        await self.inbound.send(
            InboundMessage(
                channel=self.channel, chat_id=self.chat_id, content=text, sender_id="cli"
            )
        )

    async def ask_once(self, text: str) -> OutboundMessage:
        """Send `text`; print progress messages; return (and print) the final reply."""
        await self._send(text)
        async for message in self.outbound:
            if message.chat_id != self.chat_id or message.channel != self.channel:
                continue
            self._print(message.content)
            if message.final:
                return message
        raise trio.EndOfChannel("the outbound mailbox closed before the reply")

    async def chat(self) -> None:
        """Interactive chat until EOF, `exit` or `quit`; returns once every reply
        owed for what was typed has been printed."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._print_replies)
            while True:
                self.stdout.write(PROMPT)
                self.stdout.flush()
                line = await trio.to_thread.run_sync(
                    self.stdin.readline, limiter=self.reader, abandon_on_cancel=True
                )
                text = line.strip()
                if not line or text.lower() in EXIT_WORDS:
                    break
                if text:
                    self._owed += 1
                    self._settled = trio.Event()
                    await self._send(text)
            if self._owed > 0:
                await self._settled.wait()
            nursery.cancel_scope.cancel("terminal chat ended")

    async def _print_replies(self) -> None:
        async for message in self.outbound:
            if message.chat_id != self.chat_id or message.channel != self.channel:
                continue
            self._print(REPLY_PREFIX + message.content)
            if message.final:
                self._owed = max(0, self._owed - 1)  # subagent reports are unasked-for
                if self._owed == 0:
                    self._settled.set()
