"""Pure translation both ways, for both dialects, without any I/O."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.llm import anthropic_wire, openai_wire
from autobot.llm.tool_arguments import (
    INVALID_ARGUMENTS_KEY,
    invalid_arguments,
    parse_arguments,
    tool_call,
)
from autobot.llm.types import ChatMessage, LLMRequest, Role, ToolCall, ToolSpec, Usage
from autobot.llm.wire_common import InvalidResponse

SPEC = ToolSpec(
    name="read_file",
    description="Read a file",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
CALL_A = ToolCall(id="t1", name="read_file", arguments={"path": "a.txt"})
CALL_B = ToolCall(id="t2", name="read_file", arguments={"path": "b.txt"})
HISTORY = (
    ChatMessage(role=Role.USER, content="read a and b"),
    ChatMessage(role=Role.ASSISTANT, content="Reading both.", tool_calls=(CALL_A, CALL_B)),
    ChatMessage(role=Role.TOOL, tool_call_id="t1", content="alpha"),
    ChatMessage(role=Role.TOOL, tool_call_id="t2", content="denied", is_error=True),
    ChatMessage(role=Role.ASSISTANT, content="a says alpha; b was denied"),
    ChatMessage(role=Role.USER, content="thanks"),
)


def request(messages: tuple[ChatMessage, ...] = HISTORY, system: str = "sys") -> LLMRequest:
    return LLMRequest(model="m", system=system, messages=messages, tools=(SPEC,), max_tokens=99)


# --- Anthropic ---------------------------------------------------------------------------


def test_anthropic_request_params() -> None:
    params = anthropic_wire.request_params(request())
    assert params["model"] == "m"
    assert params["max_tokens"] == 99
    assert params["system"] == "sys"
    assert "temperature" not in params
    assert params["tools"] == [
        {"name": "read_file", "description": "Read a file", "input_schema": dict(SPEC.parameters)}
    ]
    assert params["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "read a and b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Reading both."},
                {"type": "tool_use", "id": "t1", "name": "read_file", "input": {"path": "a.txt"}},
                {"type": "tool_use", "id": "t2", "name": "read_file", "input": {"path": "b.txt"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "alpha"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "denied", "is_error": True},
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "a says alpha; b was denied"}]},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
    ]


def test_anthropic_omits_empty_system_tools_and_empty_messages() -> None:
    messages = (
        ChatMessage(role=Role.USER, content="hi"),
        ChatMessage(role=Role.ASSISTANT, content=""),  # nothing to send
        ChatMessage(role=Role.USER, content="anyone?"),
    )
    params = anthropic_wire.request_params(LLMRequest(model="m", system="", messages=messages))
    assert "system" not in params and "tools" not in params
    assert params["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "anyone?"}],
        }
    ]


def test_a_user_message_after_tool_results_joins_their_user_turn() -> None:
    messages = (
        ChatMessage(role=Role.ASSISTANT, tool_calls=(CALL_A,)),
        ChatMessage(role=Role.TOOL, tool_call_id="t1", content="alpha"),
        ChatMessage(role=Role.USER, content="and now?"),
    )
    wire = anthropic_wire.wire_messages(messages)
    assert [m["role"] for m in wire] == ["assistant", "user"]
    assert [b["type"] for b in wire[1]["content"]] == ["tool_result", "text"]


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_tool_message_without_call_id_is_refused(dialect: str) -> None:
    bad = request((ChatMessage(role=Role.TOOL, content="orphan"),))
    translate: Any = (
        anthropic_wire.request_params if dialect == "anthropic" else openai_wire.request_body
    )
    with pytest.raises(ValueError, match="tool_call_id"):
        translate(bad)


@given(
    st.lists(
        st.sampled_from(["user", "assistant", "tool", "empty_assistant"]), min_size=1, max_size=30
    )
)
def test_anthropic_roles_always_alternate_and_nothing_is_empty(kinds: list[str]) -> None:
    history = []
    for index, kind in enumerate(kinds):
        if kind == "user":
            history.append(ChatMessage(role=Role.USER, content=f"u{index}"))
        elif kind == "assistant":
            call = ToolCall(id=f"c{index}", name="x", arguments={})
            history.append(ChatMessage(role=Role.ASSISTANT, content="a", tool_calls=(call,)))
        elif kind == "tool":
            history.append(ChatMessage(role=Role.TOOL, tool_call_id=f"c{index}", content="r"))
        else:
            history.append(ChatMessage(role=Role.ASSISTANT))
    wire = anthropic_wire.wire_messages(history)
    roles = [m["role"] for m in wire]
    assert all(a != b for a, b in itertools.pairwise(roles))
    assert all(m["content"] for m in wire)
    sent = [block for m in wire for block in m["content"]]
    assert len(sent) == sum(
        2 if k == "assistant" else 0 if k == "empty_assistant" else 1 for k in kinds
    )


def test_anthropic_response_text_tool_use_and_usage() -> None:
    message = {
        "content": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "Part one. "},
            {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "x"}},
            {"type": "text", "text": "Part two."},
            {"type": "tool_use", "id": "toolu_2", "name": "list_dir", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 11, "output_tokens": 22, "cache_read_input_tokens": 5},
    }
    response = anthropic_wire.response_from_message(message)
    assert response.text == "Part one. Part two."
    assert response.tool_calls == (
        ToolCall(id="toolu_1", name="read_file", arguments={"path": "x"}),
        ToolCall(id="toolu_2", name="list_dir", arguments={}),
    )
    assert response.usage == Usage(input_tokens=11, output_tokens=22)
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ({}, "no content list"),
        ({"content": "text"}, "no content list"),
        ({"content": ["x"]}, "not an object"),
        ({"content": [{"type": "tool_use", "name": "x", "input": {}}]}, "string id and name"),
        ({"content": [{"type": "tool_use", "id": "1", "name": "x", "input": []}]}, "non-object"),
    ],
)
def test_anthropic_malformed_responses(message: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidResponse, match=problem):
        anthropic_wire.response_from_message(message)


def test_anthropic_bad_usage_counts_as_zero() -> None:
    response = anthropic_wire.response_from_message(
        {"content": [], "usage": {"input_tokens": -3, "output_tokens": True}}
    )
    assert response.usage == Usage()


# --- OpenAI ------------------------------------------------------------------------------


def test_openai_request_body() -> None:
    body = openai_wire.request_body(request(), max_tokens_field="max_completion_tokens")
    assert body["max_completion_tokens"] == 99 and "max_tokens" not in body
    assert body["temperature"] == 0.7
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file",
                "parameters": dict(SPEC.parameters),
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "read a and b"},
        {
            "role": "assistant",
            "content": "Reading both.",
            "tool_calls": [
                {
                    "id": "t1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'},
                },
                {
                    "id": "t2",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "b.txt"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "alpha"},
        {"role": "tool", "tool_call_id": "t2", "content": "Error: denied"},
        {"role": "assistant", "content": "a says alpha; b was denied"},
        {"role": "user", "content": "thanks"},
    ]


def test_openai_tool_only_assistant_has_null_content_and_no_system_when_empty() -> None:
    body = openai_wire.request_body(
        LLMRequest(
            model="m", system="", messages=(ChatMessage(role=Role.ASSISTANT, tool_calls=(CALL_A,)),)
        )
    )
    assert body["messages"][0]["content"] is None
    assert [m["role"] for m in body["messages"]] == ["assistant"]
    assert "tools" not in body


def test_a_garbled_call_is_sent_back_with_empty_arguments() -> None:
    garbled = tool_call("c1", "read_file", "{oops")
    body = openai_wire.request_body(
        LLMRequest(
            model="m",
            system="",
            messages=(ChatMessage(role=Role.ASSISTANT, tool_calls=(garbled,)),),
        )
    )
    assert body["messages"][0]["tool_calls"][0]["function"]["arguments"] == "{}"


def completion(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], **extra}


def test_openai_response_with_text_and_calls() -> None:
    response = openai_wire.response_from_completion(
        completion(
            {
                "content": "on it",
                "tool_calls": [
                    {"id": "a", "function": {"name": "read_file", "arguments": '{"path": "x"}'}},
                    {"function": {"name": "list_dir", "arguments": ""}},  # no id, no arguments
                    {"id": "c", "function": {"name": "list_dir", "arguments": {"path": "y"}}},
                ],
            },
            usage={"prompt_tokens": 3, "completion_tokens": 4},
        )
    )
    assert response.text == "on it"
    assert response.tool_calls == (
        ToolCall(id="a", name="read_file", arguments={"path": "x"}),
        ToolCall(id="call_1", name="list_dir", arguments={}),
        ToolCall(id="c", name="list_dir", arguments={"path": "y"}),
    )
    assert response.usage == Usage(input_tokens=3, output_tokens=4)
    assert response.stop_reason == "stop"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "no choices"),
        ({"choices": []}, "no choices"),
        ({"choices": "x"}, "no choices"),
        ({"choices": [{}]}, "no message"),
        (completion({"tool_calls": "x"}), "tool call without a function"),
        (completion({"tool_calls": {"a": 1}}), "tool_calls is not a list"),
        (completion({"tool_calls": [{"function": {"name": ""}}]}), "without a function name"),
    ],
)
def test_openai_malformed_responses(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidResponse, match=problem):
        openai_wire.response_from_completion(payload)


# --- Tool arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "arguments", "problem"),
    [
        ('{"path": "x"}', {"path": "x"}, None),
        ("", {}, None),
        ("   ", {}, None),
        (None, {}, None),
        ({"path": "x"}, {"path": "x"}, None),
        ('{"path": ', {}, "arguments are not valid JSON (Expecting value at position 9)"),
        ("[1]", {}, "arguments must be a JSON object, got list"),
        ('"str"', {}, "arguments must be a JSON object, got str"),
        (42, {}, "arguments must be a JSON object string, got int"),
    ],
)
def test_parse_arguments(raw: object, arguments: dict[str, Any], problem: str | None) -> None:
    assert parse_arguments(raw) == (arguments, problem)


@given(st.text(max_size=200))
def test_any_arguments_string_yields_a_call_never_an_exception(raw: str) -> None:
    call = tool_call("id", "exec", raw)
    problem = invalid_arguments(call)
    if problem is None:
        assert INVALID_ARGUMENTS_KEY not in call.arguments
        assert call.arguments == (json.loads(raw) if raw.strip() else {})
    else:
        # A fixed phrase plus the JSON parser's message and position: the input is not echoed.
        assert re.fullmatch(
            r"Invalid arguments for tool 'exec': arguments (are not valid JSON \(.+ at position"
            r" \d+\)|must be a JSON object, got \w+)",
            problem,
        )


@given(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5))
def test_valid_arguments_survive_both_directions(arguments: dict[str, Any]) -> None:
    call = ToolCall(id="c", name="n", arguments=arguments)
    wire = openai_wire.request_body(
        LLMRequest(
            model="m", system="", messages=(ChatMessage(role=Role.ASSISTANT, tool_calls=(call,)),)
        )
    )["messages"][0]["tool_calls"][0]
    back = tool_call(wire["id"], wire["function"]["name"], wire["function"]["arguments"])
    if INVALID_ARGUMENTS_KEY in arguments:
        return
    assert back == call
