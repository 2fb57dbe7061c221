"""The message tool: current conversation only unless allowed; through the outbound mailbox."""

from __future__ import annotations

from pathlib import Path

import trio

from autobot.channels.base import OutboundMessage
from autobot.logs.records import Level
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext
from autobot.tools.message import MessageTool


def _ctx() -> tuple[ToolContext, trio.MemoryReceiveChannel]:  # type: ignore[type-arg]
    logger, records = capture_logger()
    return (
        ToolContext(
            session_key="telegram:42",
            channel="telegram",
            chat_id="42",
            workspace=Path("/w"),
            logger=logger,
        ),
        records,
    )


async def test_message_goes_to_the_current_conversation_by_default() -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, _ = _ctx()
    result = await MessageTool(outbound=send).run({"content": "working on it"}, ctx)
    assert not result.is_error
    assert receive.receive_nowait() == OutboundMessage(
        channel="telegram", chat_id="42", content="working on it"
    )


async def test_naming_the_current_conversation_explicitly_is_fine() -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, _ = _ctx()
    args = {"content": "x", "channel": "telegram", "chat_id": "42"}
    assert not (await MessageTool(outbound=send).run(args, ctx)).is_error
    assert receive.receive_nowait().chat_id == "42"


async def test_other_conversations_are_refused_with_access_denied() -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, records = _ctx()
    for args in (
        {"content": "spam", "chat_id": "43"},
        {"content": "spam", "channel": "slack"},
        {"content": "spam", "channel": "slack", "chat_id": "42"},
    ):
        result = await MessageTool(outbound=send).run(args, ctx)
        assert result.is_error
        assert result.text.startswith("messages may only go to this conversation")
    logged = drain(records)
    assert [r.level for r in logged] == [Level.WARN] * 3
    assert all(r.message.startswith("ACCESS DENIED: ") for r in logged)
    assert receive.statistics().current_buffer_used == 0


async def test_other_conversations_when_the_owner_allows_them() -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    ctx, _ = _ctx()
    tool = MessageTool(outbound=send, allow_other_chats=True)
    assert not (
        await tool.run({"content": "hi", "channel": "slack", "chat_id": "C1"}, ctx)
    ).is_error
    assert receive.receive_nowait() == OutboundMessage(channel="slack", chat_id="C1", content="hi")
