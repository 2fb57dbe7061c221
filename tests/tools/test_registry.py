"""The tool registry: validation table, unknown tools, rate limits, crashes, truncation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from autobot.config.schema import RateLimit, RateLimitConfig
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import ToolCall
from autobot.logs.records import Level
from autobot.testing.fake_tools import FakeTool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.arg_schema import SchemaError
from autobot.tools.base import ToolContext
from autobot.tools.registry import ToolRegistry, truncate_output

EXEC_SCHEMA = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "minLength": 1},
        "working_dir": {"type": "string"},
        "timeout": {"type": "integer", "minimum": 1, "maximum": 600},
    },
    "required": ["command"],
    "additionalProperties": False,
}
CRON_SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["add", "list", "remove"]},
        "every_seconds": {"type": "number", "minimum": 1},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
        "enabled": {"type": "boolean"},
    },
    "required": ["action"],
}


def _ctx() -> tuple[ToolContext, trio.MemoryReceiveChannel[Any]]:
    logger, records = capture_logger("agent:test:1")
    ctx = ToolContext(
        session_key="test:1",
        channel="test",
        chat_id="1",
        workspace=Path("/nonexistent"),
        logger=logger,
    )
    return ctx, records


def _limits(**per_tool: int) -> SessionLimits:
    config = RateLimitConfig(
        tools=RateLimit(max_calls=100),
        per_tool={name: RateLimit(max_calls=n) for name, n in per_tool.items()},
    )
    return SessionLimits.from_config(config, now=trio.current_time())


def _registry(*extra: FakeTool) -> tuple[ToolRegistry, FakeTool, FakeTool]:
    exec_tool = FakeTool("exec", parameters=EXEC_SCHEMA)
    cron_tool = FakeTool("cron", parameters=CRON_SCHEMA)
    return ToolRegistry.of([exec_tool, cron_tool, *extra]), exec_tool, cron_tool


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("exec", {}, "Invalid arguments for exec: 'command' is required"),
        ("exec", {"command": 5}, "Invalid arguments for exec: 'command' must be a string"),
        (
            "exec",
            {"command": ""},
            "Invalid arguments for exec: 'command' must be at least 1 characters",
        ),
        (
            "exec",
            {"command": "ls", "timeout": "5"},
            "Invalid arguments for exec: 'timeout' must be an integer",
        ),
        (
            "exec",
            {"command": "ls", "timeout": 5.5},
            "Invalid arguments for exec: 'timeout' must be an integer",
        ),
        (
            "exec",
            {"command": "ls", "timeout": True},
            "Invalid arguments for exec: 'timeout' must be an integer",
        ),
        (
            "exec",
            {"command": "ls", "timeout": 0},
            "Invalid arguments for exec: 'timeout' must be at least 1",
        ),
        (
            "exec",
            {"command": "ls", "timeout": 601},
            "Invalid arguments for exec: 'timeout' must be at most 600",
        ),
        (
            "exec",
            {"command": "ls", "shell": "bash"},
            "Invalid arguments for exec: unexpected argument 'shell'",
        ),
        (
            "cron",
            {"action": "nuke"},
            "Invalid arguments for cron: 'action' must be one of 'add', 'list', 'remove'",
        ),
        (
            "cron",
            {"action": "add", "every_seconds": "60"},
            "Invalid arguments for cron: 'every_seconds' must be a number",
        ),
        (
            "cron",
            {"action": "add", "every_seconds": 0.5},
            "Invalid arguments for cron: 'every_seconds' must be at least 1",
        ),
        (
            "cron",
            {"action": "add", "tags": "a"},
            "Invalid arguments for cron: 'tags' must be an array",
        ),
        (
            "cron",
            {"action": "add", "tags": ["ok", 3]},
            "Invalid arguments for cron: 'tags[1]' must be a string",
        ),
        (
            "cron",
            {"action": "add", "tags": ["toolong"]},
            "Invalid arguments for cron: 'tags[0]' must be at most 3 characters",
        ),
        (
            "cron",
            {"action": "list", "enabled": "yes"},
            "Invalid arguments for cron: 'enabled' must be a boolean",
        ),
        (
            "cron",
            {"action": "list", "extra": 1},
            "Invalid arguments for cron: unexpected argument 'extra'",
        ),
    ],
)
async def test_invalid_arguments_table(name: str, args: dict[str, Any], expected: str) -> None:
    registry, exec_tool, cron_tool = _registry()
    ctx, records = _ctx()
    result = await registry.call(ToolCall(id="1", name=name, arguments=args), ctx, _limits())
    assert result.is_error
    assert result.text == expected
    assert exec_tool.calls == [] and cron_tool.calls == []
    logged = drain(records)
    assert [r.level for r in logged] == [Level.WARN]
    assert ("session", "test:1") in logged[0].fields
    assert ("tool", name) in logged[0].fields
    assert not any(r.message.startswith("Executing tool:") for r in logged)


async def test_valid_call_runs_and_logs_executing_tool() -> None:
    registry, exec_tool, _ = _registry()
    ctx, records = _ctx()
    call = ToolCall(id="1", name="exec", arguments={"command": "ls", "timeout": 5})
    result = await registry.call(call, ctx, _limits())
    assert (result.text, result.is_error) == ("ok", False)
    assert exec_tool.calls == [({"command": "ls", "timeout": 5}, ctx)]
    assert [r.message for r in drain(records)] == ["Executing tool: exec"]


async def test_unknown_tool_is_reported_with_the_available_ones() -> None:
    registry, _, _ = _registry()
    ctx, records = _ctx()
    result = await registry.call(ToolCall(id="1", name="rm_rf", arguments={}), ctx, _limits())
    assert result.is_error
    assert result.text == "Unknown tool: 'rm_rf'. Available tools: cron, exec"
    assert drain(records)[0].level is Level.WARN


async def test_tool_exception_is_generic_for_the_model_and_an_error_record() -> None:
    secret = "sk-ant-api03-very-secret-value"
    boom = FakeTool("boom", fail_with=RuntimeError(f"leaked {secret}"))
    registry, _, _ = _registry(boom)
    ctx, records = _ctx()
    result = await registry.call(ToolCall(id="1", name="boom", arguments={}), ctx, _limits())
    assert result.is_error
    assert result.text == "Tool boom failed with an internal error."
    assert secret not in result.text
    logged = drain(records)
    assert [r.level for r in logged] == [Level.INFO, Level.ERROR]
    assert logged[1].exc_text is not None and "RuntimeError" in logged[1].exc_text


async def test_rate_limited_tool_gets_a_clear_error_and_a_warn(autojump_clock: Any) -> None:
    registry, exec_tool, _ = _registry()
    ctx, records = _ctx()
    limits = _limits(exec=2)
    call = ToolCall(id="1", name="exec", arguments={"command": "ls"})
    for _ in range(2):
        assert not (await registry.call(call, ctx, limits)).is_error
    limited = await registry.call(call, ctx, limits)
    assert limited.is_error
    assert limited.text == "Tool exec not run: rate limit reached (tool:exec); retry in 30s"
    assert len(exec_tool.calls) == 2
    assert drain(records)[-1].level is Level.WARN
    await trio.sleep(30)
    assert not (await registry.call(call, ctx, limits)).is_error


async def test_large_output_is_truncated_with_a_notice() -> None:
    big = FakeTool("big", reply="x" * 50)
    registry = ToolRegistry.of([big], max_output_chars=20)
    ctx, _ = _ctx()
    result = await registry.call(ToolCall(id="1", name="big", arguments={}), ctx, _limits())
    assert result.text == "x" * 20 + "\n... [output truncated: showing 20 of 50 characters]"


def test_truncate_output_keeps_short_text() -> None:
    assert truncate_output("abc", 3) == "abc"


def test_registry_refuses_unenforceable_schemas_and_duplicates() -> None:
    with pytest.raises(SchemaError, match="unsupported schema keyword"):
        ToolRegistry.of([FakeTool("t", parameters={"type": "object", "patternProperties": {}})])
    with pytest.raises(SchemaError, match="'type' must be one of"):
        ToolRegistry.of([FakeTool("t", parameters={"type": "null"})])
    with pytest.raises(SchemaError, match="required property 'y' is not declared"):
        ToolRegistry.of([FakeTool("t", parameters={"type": "object", "required": ["y"]})])
    with pytest.raises(SchemaError, match="additionalProperties"):
        ToolRegistry.of(
            [FakeTool("t", parameters={"type": "object", "additionalProperties": True})]
        )
    with pytest.raises(ValueError, match="duplicate tool name 'a'"):
        ToolRegistry.of([FakeTool("a"), FakeTool("a")])


def test_without_and_with_tools() -> None:
    registry, _, _ = _registry(FakeTool("message"), FakeTool("spawn"))
    reduced = registry.without(["message", "spawn", "cron"])
    assert reduced.names() == ("exec",)
    assert [s.name for s in reduced.specs()] == ["exec"]
    assert registry.names() == ("exec", "cron", "message", "spawn")
    extended = reduced.with_tools([FakeTool("x")])
    assert extended.names() == ("exec", "x")
    # the base's specs are reused, and equal what a fresh build gives
    assert extended.specs()[0] is reduced.specs()[0]
    assert extended.specs() == ToolRegistry.of(extended.tools.values()).specs()
    with pytest.raises(ValueError, match="duplicate"):
        registry.with_tools([FakeTool("exec")])


def test_concurrency_safety_is_opt_in() -> None:
    registry = ToolRegistry.of([FakeTool("r", concurrency_safe=True), FakeTool("w")])
    assert registry.is_concurrency_safe("r")
    assert not registry.is_concurrency_safe("w")
    assert not registry.is_concurrency_safe("missing")
