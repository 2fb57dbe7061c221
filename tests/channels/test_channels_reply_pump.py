"""The channels' sending loop: in order, and a graceful stop still delivers what is queued."""

from __future__ import annotations

import trio

from autobot.channels.base import OutboundMessage
from autobot.channels.reply_pump import ReplyPump

QUEUE = 8  # more than any test queues


def reply(content: str) -> OutboundMessage:
    return OutboundMessage(channel="test", chat_id="1", content=content)


async def test_replies_are_delivered_in_order_and_a_stop_ends_the_idle_wait(
    autojump_clock: trio.abc.Clock,
) -> None:
    pump = ReplyPump()
    stopping = trio.Event()
    delivered: list[tuple[str, float]] = []

    async def deliver(message: OutboundMessage) -> None:
        await trio.sleep(1)  # a slow network: later replies queue up meanwhile
        delivered.append((message.content, trio.current_time()))

    send, outbox = trio.open_memory_channel[OutboundMessage](QUEUE)
    with send, outbox:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.run, outbox, stopping, deliver)
            await send.send(reply("a"))
            await trio.sleep(10)  # delivered; the pump waits for the next reply
            for content in "bcd":
                send.send_nowait(reply(content))
            await trio.sleep(0.5)  # "b" is being delivered, "c" and "d" are queued
            stopping.set()
            pump.stop("test stops")
        assert delivered == [("a", 1.0), ("b", 11.0), ("c", 12.0), ("d", 13.0)]


async def test_a_stop_while_idle_ends_the_loop_at_once(autojump_clock: trio.abc.Clock) -> None:
    pump = ReplyPump()
    stopping = trio.Event()
    send, outbox = trio.open_memory_channel[OutboundMessage](QUEUE)

    async def deliver(message: OutboundMessage) -> None:
        raise AssertionError(f"nothing was queued: {message}")

    with send, outbox:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.run, outbox, stopping, deliver)
            await trio.sleep(5)
            stopping.set()
            pump.stop("test stops")
        assert trio.current_time() == 5.0
