"""The message tool: current conversation only unless allowed; through the outbound mailbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from autobot.agent.assembly import build_tools
from autobot.channels.base import OutboundMessage
from autobot.config.load import load_config
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import ToolCall
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
        assert result.text.startswith(
            "Not sent: this bot may only message the current conversation (telegram:42)"
        )
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


def _registry_from_config(tmp_path: Path, yaml_tools: str, send: trio.MemorySendChannel):  # type: ignore[no-untyped-def,type-arg]
    (tmp_path / "config.yml").write_text(yaml_tools)
    config = load_config(tmp_path / "config.yml", {}).config
    registry = build_tools(config, workspace=tmp_path / "workspace", outbound=send, pool=None)
    limits = SessionLimits.from_config(config.tools.rate_limit, trio.current_time())
    return registry, limits


OTHER_CHAT = ToolCall(
    id="c1", name="message", arguments={"content": "hi", "channel": "slack", "chat_id": "C1"}
)


@pytest.mark.parametrize(
    "yaml_tools",
    ["", "tools:\n  message:\n    allow_other_chats: false\n"],
    ids=["default", "false"],
)
async def test_config_keeps_messages_in_this_conversation(tmp_path: Path, yaml_tools: str) -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    registry, limits = _registry_from_config(tmp_path, yaml_tools, send)
    ctx, records = _ctx()
    result = await registry.call(OTHER_CHAT, ctx, limits)
    assert result.is_error
    # the model learns it is a setting, which one, and what it can do instead
    assert "not slack:C1" in result.text
    assert "disabled by the owner (tools.message.allow_other_chats)" in result.text
    assert "do not retry" in result.text
    assert "Omit channel and chat_id" in result.text
    assert [r.message for r in drain(records) if r.level is Level.WARN] == [
        f"ACCESS DENIED: {result.text}"
    ]
    assert receive.statistics().current_buffer_used == 0


async def test_config_lets_the_owner_allow_other_conversations(tmp_path: Path) -> None:
    send, receive = trio.open_memory_channel[OutboundMessage](10)
    yaml_tools = "tools:\n  message:\n    allow_other_chats: true\n"
    registry, limits = _registry_from_config(tmp_path, yaml_tools, send)
    ctx, _ = _ctx()
    result = await registry.call(OTHER_CHAT, ctx, limits)
    assert (result.is_error, result.text) == (False, "Message sent to slack:C1.")
    assert receive.receive_nowait() == OutboundMessage(channel="slack", chat_id="C1", content="hi")
