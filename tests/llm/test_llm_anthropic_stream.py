"""StreamedMessage: a Messages API answer assembled from its stream events (pure)."""

from __future__ import annotations

from types import SimpleNamespace as Event
from typing import Any

import pytest

from autobot.llm.anthropic_stream import StreamedMessage
from autobot.llm.anthropic_wire import response_from_message
from autobot.llm.types import ToolCall, Usage
from autobot.llm.wire_common import InvalidResponse


def _start(input_tokens: int = 12) -> Event:
    usage = Event(input_tokens=input_tokens, output_tokens=1)
    return Event(type="message_start", message=Event(usage=usage))


def _block(index: int, **block: Any) -> Event:
    return Event(type="content_block_start", index=index, content_block=Event(**block))


def _delta(index: int, **delta: Any) -> Event:
    return Event(type="content_block_delta", index=index, delta=Event(**delta))


def _end(stop_reason: str, output_tokens: int) -> Event:
    return Event(
        type="message_delta",
        delta=Event(stop_reason=stop_reason),
        usage=Event(input_tokens=None, output_tokens=output_tokens),
    )


def _assemble(events: list[Event]) -> dict[str, Any]:
    message = StreamedMessage()
    for event in events:
        message.feed(event)
    return message.message()


def test_text_and_tool_calls_are_assembled_from_their_pieces() -> None:
    events = [
        _start(),
        Event(type="ping"),
        _block(0, type="text", text=""),
        _delta(0, type="text_delta", text="Let me "),
        _delta(0, type="text_delta", text="check."),
        Event(type="content_block_stop", index=0),
        _block(1, type="thinking", thinking=""),  # a kind autobot does not use
        _delta(1, type="thinking_delta", thinking="hmm"),
        _block(2, type="tool_use", id="toolu_1", name="web_search"),
        _delta(2, type="input_json_delta", partial_json='{"query": "Par'),
        _delta(2, type="input_json_delta", partial_json='is", "count": 3}'),
        _block(3, type="tool_use", id="toolu_2", name="list_dir"),
        _end("tool_use", 42),
        Event(type="message_stop"),
    ]
    response = response_from_message(_assemble(events))
    assert response.text == "Let me check."
    assert response.tool_calls == (
        ToolCall(id="toolu_1", name="web_search", arguments={"query": "Paris", "count": 3}),
        ToolCall(id="toolu_2", name="list_dir", arguments={}),  # no input deltas: {}
    )
    assert response.usage == Usage(input_tokens=12, output_tokens=42)
    assert response.stop_reason == "tool_use"


@pytest.mark.parametrize("pieces", [['{"a": '], ["[1, 2]"], ['"x"']])
def test_a_tool_input_that_is_not_a_json_object_is_invalid(pieces: list[str]) -> None:
    events = [_start(), _block(0, type="tool_use", id="t", name="n")]
    events += [_delta(0, type="input_json_delta", partial_json=p) for p in pieces]
    with pytest.raises(InvalidResponse):
        _assemble(events)


def test_a_stream_without_message_start_is_invalid() -> None:
    with pytest.raises(InvalidResponse, match="before message_start"):
        _assemble([_end("end_turn", 1)])
