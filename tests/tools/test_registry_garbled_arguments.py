"""Garbled tool arguments from the OpenAI dialect reach the model as a precise error."""

from __future__ import annotations

from pathlib import Path

import trio

from autobot.config.schema import RateLimitConfig
from autobot.limits.buckets import SessionLimits
from autobot.llm.tool_arguments import tool_call
from autobot.testing.fake_tools import FakeTool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext
from autobot.tools.registry import ToolRegistry

SCHEMA = {
    "type": "object",
    "properties": {"command": {"type": "string"}},
    "required": ["command"],
}


async def test_malformed_json_arguments_never_run_the_tool() -> None:
    tool = FakeTool(name="exec", parameters=SCHEMA)
    registry = ToolRegistry.of([tool])
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="t:1", channel="t", chat_id="1", workspace=Path("/none"), logger=logger
    )
    limits = SessionLimits.from_config(RateLimitConfig(), now=trio.current_time())
    call = tool_call("c1", "exec", '{"command": "ls"')
    result = await registry.call(call, ctx, limits)
    assert result.is_error
    assert result.text.startswith("Invalid arguments for tool 'exec': arguments are not valid JSON")
    assert tool.calls == []
    logged = drain(records)
    assert [r.message for r in logged] == ["Invalid tool arguments"]
    assert ("session", "t:1") in logged[0].fields
