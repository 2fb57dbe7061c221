"""The agent loop: tool rounds, concurrency, truncation, budgets, limits, breaker, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from autobot.agent.budget import DailyBudget
from autobot.agent.loop import APOLOGY, AgentLoop, LoopSettings, SessionGovernor
from autobot.agent.spend import GlobalLimits
from autobot.config.schema import Budget, RateLimit, RateLimitConfig
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import ChatMessage, ProviderError, Role
from autobot.logs.records import Level, LogRecord
from autobot.testing.fake_tools import FakeTool
from autobot.testing.logs import capture_logger, drain
from autobot.testing.scripted_llm import ScriptedProvider, text_reply, tool_reply
from autobot.tools.base import ToolContext
from autobot.tools.registry import ToolRegistry

DAY = 1_767_225_600.0  # 2026-01-01T00:00:00Z
USER = ChatMessage(role=Role.USER, content="hello")


def _governor(
    *,
    llm: int = 100,
    global_llm: int = 1000,
    session_tokens: int | None = None,
    global_tokens: int | None = None,
    shared: GlobalLimits | None = None,
    clock: list[float] | None = None,
) -> SessionGovernor:
    now = trio.current_time()
    wall = clock if clock is not None else [DAY]
    return SessionGovernor(
        limits=SessionLimits.from_config(
            RateLimitConfig(llm=RateLimit(max_calls=llm), tools=RateLimit(max_calls=100)), now
        ),
        budget=DailyBudget(session_tokens),
        shared=shared
        or GlobalLimits.from_config(
            RateLimit(max_calls=global_llm), Budget(global_daily_tokens=global_tokens), now
        ),
        wall_clock=lambda: wall[0],
    )


def _ctx() -> tuple[ToolContext, trio.MemoryReceiveChannel[LogRecord]]:
    logger, records = capture_logger("agent:test:1")
    return (
        ToolContext(
            session_key="test:1", channel="test", chat_id="1", workspace=Path("/w"), logger=logger
        ),
        records,
    )


def _loop(provider: ScriptedProvider, *tools: FakeTool, iterations: int = 20) -> AgentLoop:
    return AgentLoop(
        provider=provider,
        registry=ToolRegistry.of(tools, max_output_chars=30),
        settings=LoopSettings(model="m", max_tool_iterations=iterations),
    )


async def test_multi_step_tool_use_ends_with_the_final_text() -> None:
    provider = ScriptedProvider.from_script(
        [
            tool_reply(("read_file", {"x": "a"}), input_tokens=100, output_tokens=20),
            tool_reply(("exec", {"x": "b"}), input_tokens=150, output_tokens=30),
            text_reply("all done", input_tokens=200, output_tokens=10),
        ]
    )
    read = FakeTool("read_file", reply="contents")
    run = FakeTool("exec", reply="y" * 50)
    ctx, records = _ctx()
    governor = _governor()
    outcome = await _loop(provider, read, run).run_turn(
        system="sys", history=[USER], ctx=ctx, governor=governor
    )
    assert outcome.reply == "all done"
    assert [m.role for m in outcome.messages] == [
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]
    assert outcome.messages[1].content == "contents"
    assert outcome.messages[3].content.startswith("y" * 30 + "\n... [output truncated")
    assert outcome.spent == (("2026-01-01", 120), ("2026-01-01", 180), ("2026-01-01", 210))
    # the model saw the tool results and the tool schemas
    last = provider.requests[-1]
    assert [m.role for m in last.messages] == [Role.USER, Role.ASSISTANT, Role.TOOL] * 1 + [
        Role.ASSISTANT,
        Role.TOOL,
    ]
    assert {t.name for t in last.tools} == {"read_file", "exec"}
    assert last.system == "sys"
    messages = [r.message for r in drain(records)]
    assert messages == [
        "Tokens: in=100 out=20 session=120",
        "Executing tool: read_file",
        "Tokens: in=150 out=30 session=300",
        "Executing tool: exec",
        "Tokens: in=200 out=10 session=510",
    ]


async def test_safe_calls_run_concurrently_unsafe_ones_alone(autojump_clock: Any) -> None:
    events: list[tuple[str, str, float]] = []
    r1 = FakeTool("r1", delay=1, concurrency_safe=True, events=events)
    r2 = FakeTool("r2", delay=1, concurrency_safe=True, events=events)
    w = FakeTool("w", delay=1, events=events)
    provider = ScriptedProvider.from_script(
        [tool_reply(("r1", {}), ("r2", {}), ("w", {}), ("r1", {"x": "again"})), text_reply("ok")]
    )
    ctx, _ = _ctx()
    start = trio.current_time()
    outcome = await _loop(provider, r1, r2, w).run_turn(
        system="", history=[USER], ctx=ctx, governor=_governor()
    )
    assert outcome.reply == "ok"
    starts = sorted((t - start, name) for kind, name, t in events if kind == "start")
    assert starts == [(0.0, "r1"), (0.0, "r2"), (1.0, "w"), (2.0, "r1")]
    # results stay in call order whatever the completion order
    assert [m.tool_call_id for m in outcome.messages if m.role is Role.TOOL] == [
        "call_0",
        "call_1",
        "call_2",
        "call_3",
    ]


async def test_invalid_arguments_go_back_to_the_model_and_the_turn_goes_on() -> None:
    provider = ScriptedProvider.from_script([tool_reply(("t", {"x": 5})), text_reply("fixed it")])
    tool = FakeTool("t")
    ctx, _ = _ctx()
    outcome = await _loop(provider, tool).run_turn(
        system="", history=[USER], ctx=ctx, governor=_governor()
    )
    assert outcome.reply == "fixed it"
    assert outcome.messages[1].content == "Invalid arguments for t: 'x' must be a string"
    assert outcome.messages[1].is_error
    assert tool.calls == []


@pytest.mark.parametrize("failure", [ProviderError("HTTP 529 overloaded"), RuntimeError("bug")])
async def test_provider_failure_is_a_generic_apology_and_an_error_record(
    failure: Exception,
) -> None:
    secret = "sk-ant-api03-secret"
    provider = ScriptedProvider.from_script([type(failure)(f"{failure} key={secret}")])
    ctx, records = _ctx()
    outcome = await _loop(provider).run_turn(
        system="", history=[USER], ctx=ctx, governor=_governor()
    )
    assert (outcome.reply, outcome.failed) == (APOLOGY, True)
    assert secret not in outcome.reply
    errors = [r for r in drain(records) if r.level is Level.ERROR]
    assert len(errors) == 1 and errors[0].exc_text is not None


async def test_breaker_stops_the_identical_call_on_the_third_repeat() -> None:
    same = tool_reply(("exec", {"x": "ls"}))
    provider = ScriptedProvider.from_script([same, same, same, text_reply("never")])
    tool = FakeTool("exec")
    ctx, records = _ctx()
    outcome = await _loop(provider, tool).run_turn(
        system="", history=[USER], ctx=ctx, governor=_governor()
    )
    assert len(tool.calls) == 2
    assert outcome.reply.startswith("I stopped because I kept repeating the same action (exec)")
    assert outcome.messages[-2].content.startswith("Not run: identical call repeated 3 times")
    assert len(provider.requests) == 3
    assert any(r.message == "Repeat breaker stopped the turn" for r in drain(records))


async def test_iteration_limit() -> None:
    provider = ScriptedProvider(responder=lambda r: tool_reply(("t", {"x": str(len(r.messages))})))
    ctx, _ = _ctx()
    outcome = await _loop(provider, FakeTool("t"), iterations=3).run_turn(
        system="", history=[USER], ctx=ctx, governor=_governor()
    )
    assert len(provider.requests) == 3
    assert outcome.reply.startswith("I stopped after 3 rounds of tool use")
    assert outcome.messages[-1].role is Role.ASSISTANT


async def test_session_budget_refuses_the_next_call_and_rolls_over_next_day() -> None:
    provider = ScriptedProvider(
        responder=lambda r: text_reply("hi", input_tokens=60, output_tokens=0)
    )
    clock = [DAY]
    governor = _governor(session_tokens=100, clock=clock)
    ctx, records = _ctx()
    loop = _loop(provider)
    for _ in range(2):
        assert (
            await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)
        ).reply == "hi"
    refused = await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)
    assert refused.reply.startswith("This conversation has used its token budget for today")
    assert refused.spent == ()
    assert len(provider.requests) == 2
    assert drain(records)[-1].level is Level.WARN
    clock[0] = DAY + 86_400
    assert (
        await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)
    ).reply == "hi"


async def test_global_budget_is_shared_across_sessions() -> None:
    provider = ScriptedProvider(
        responder=lambda r: text_reply("hi", input_tokens=100, output_tokens=0)
    )
    shared = GlobalLimits.from_config(
        RateLimit(max_calls=100), Budget(global_daily_tokens=150), trio.current_time()
    )
    a, b = _governor(shared=shared), _governor(shared=shared)
    ctx, _ = _ctx()
    loop = _loop(provider)
    await loop.run_turn(system="", history=[USER], ctx=ctx, governor=a)
    await loop.run_turn(system="", history=[USER], ctx=ctx, governor=b)
    refused = await loop.run_turn(system="", history=[USER], ctx=ctx, governor=a)
    assert refused.reply.startswith("The assistant has used its token budget for today")


async def test_llm_rate_limit_refills_at_the_exact_time(autojump_clock: Any) -> None:
    provider = ScriptedProvider()
    governor = _governor(llm=2)
    ctx, _ = _ctx()
    loop = _loop(provider)
    start = trio.current_time()
    for _ in range(2):
        assert (await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)).reply
    refused = await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)
    assert refused.reply == (
        "I'm receiving too many requests right now. Please try again in 30 seconds."
    )
    await trio.sleep_until(start + 29.999)
    assert (
        await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)
    ).reply.startswith("I'm receiving too many")
    await trio.sleep_until(start + 30)
    assert (
        await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)
    ).reply == "echo: hello"


async def test_global_llm_ceiling_limits_all_sessions_but_a_session_limit_only_its_own() -> None:
    provider = ScriptedProvider()
    shared = GlobalLimits.from_config(RateLimit(max_calls=3), Budget(), trio.current_time())
    greedy = _governor(llm=1, shared=shared)
    other = _governor(shared=shared)
    ctx, _ = _ctx()
    loop = _loop(provider)

    async def turn(governor: SessionGovernor) -> str:
        return (await loop.run_turn(system="", history=[USER], ctx=ctx, governor=governor)).reply

    assert await turn(greedy) == "echo: hello"
    assert (await turn(greedy)).startswith("I'm receiving too many")  # its own limit
    assert await turn(other) == "echo: hello"  # unaffected by greedy's exhaustion
    assert await turn(other) == "echo: hello"
    assert (await turn(other)).startswith("I'm receiving too many")  # global ceiling (3)


async def test_empty_final_text_gets_a_placeholder() -> None:
    provider = ScriptedProvider.from_script([text_reply("  ")])
    ctx, _ = _ctx()
    outcome = await _loop(provider).run_turn(
        system="", history=[USER], ctx=ctx, governor=_governor()
    )
    assert outcome.reply == "Done. (I have nothing to add.)"


async def test_usage_without_tokens_is_charged_as_zero() -> None:
    provider = ScriptedProvider.from_script([text_reply("x", input_tokens=0, output_tokens=0)])
    ctx, records = _ctx()
    governor = _governor()
    await _loop(provider).run_turn(system="", history=[USER], ctx=ctx, governor=governor)
    assert governor.budget.used == 0
    assert drain(records)[0].message == "Tokens: in=0 out=0 session=0"
