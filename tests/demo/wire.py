"""Requests exactly as the agent loop sends them, and a pure replay of one turn."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autobot.demo.brain import answer
from autobot.llm.anthropic_wire import request_params
from autobot.llm.types import ChatMessage, LLMRequest, Role, ToolCall, ToolSpec

TOOLS = tuple(
    ToolSpec(name=name, description=name, parameters={"type": "object"})
    for name in ("read_file", "write_file", "list_dir", "exec", "web_fetch")
)
ToolRunner = Callable[[str, Mapping[str, Any]], tuple[str, bool]]


def body(messages: Sequence[ChatMessage], *, tools: bool = True, system: str = "sys") -> Any:
    """The Messages API body the real provider sends for `messages` (JSON round-tripped)."""
    request = LLMRequest(
        model="autobot-demo", system=system, messages=messages, tools=TOOLS if tools else ()
    )
    return json.loads(json.dumps(request_params(request)))


def user(text: str) -> ChatMessage:
    return ChatMessage(role=Role.USER, content=text)


def play_turn(
    history: Sequence[ChatMessage], text: str, run_tool: ToolRunner, *, max_rounds: int = 10
) -> tuple[list[list[tuple[str, dict[str, Any]]]], str, list[ChatMessage]]:
    """Drive the brain through one turn like the agent loop does: returns the
    rounds of calls it made, its final text, and the history after the turn."""
    messages = [*history, user(text)]
    rounds: list[list[tuple[str, dict[str, Any]]]] = []
    for _ in range(max_rounds):
        reply = answer(body(messages))
        if not reply.tool_calls:
            messages.append(ChatMessage(role=Role.ASSISTANT, content=reply.text))
            return rounds, reply.text, messages
        calls = [
            ToolCall(id=f"toolu_{len(messages)}_{i}", name=c.name, arguments=dict(c.arguments))  # type: ignore[arg-type]
            for i, c in enumerate(reply.tool_calls)
        ]
        rounds.append([(c.name, dict(c.arguments)) for c in calls])
        messages.append(
            ChatMessage(role=Role.ASSISTANT, content=reply.text, tool_calls=tuple(calls))
        )
        for call in calls:
            result, is_error = run_tool(call.name, call.arguments)
            messages.append(
                ChatMessage(role=Role.TOOL, content=result, tool_call_id=call.id, is_error=is_error)
            )
    raise AssertionError("the brain never finished the turn")
