"""Assembling a Messages API answer from its stream events (pure).

`StreamedMessage.feed(event)` takes the events the SDK yields for
`messages.create(stream=True)` (`message_start`, `content_block_start`,
`content_block_delta`, `content_block_stop`, `message_delta`,
`message_stop`; the SDK itself raises on an `error` event) and `message()`
returns the final message as the JSON-like dict `response_from_message`
reads. Only what autobot uses is kept: text blocks, tool_use blocks (their
input from the `input_json_delta` pieces), the stop reason and the usage;
other block kinds (thinking, server tools...) are skipped.

Why not the SDK's `messages.stream()` helper: it rebuilds a typed snapshot
of the whole message after every event, which costs about 0.5 ms of CPU per
answer on the event loop (measured with `scripts/bench_agent.py`, where
1,000 sessions answer at once); this keeps the SDK's request, transport and
event parsing and drops only that snapshot.

Events are read by attribute (`event.type`, `event.delta.text`...), so tests
can feed plain objects.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from autobot.llm.wire_common import InvalidResponse


@attrs.define
class StreamedMessage:
    """The message being assembled from stream events (see the module docstring)."""

    _blocks: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    _json: dict[int, list[str]] = attrs.field(factory=dict)
    _usage: dict[str, int] = attrs.field(factory=dict)
    _stop_reason: str | None = None
    _started: bool = False

    def feed(self, event: Any) -> None:
        """Take one stream event; raises `InvalidResponse` on an event out of place."""
        kind = event.type
        if kind == "message_start":
            self._started = True
            self._add_usage(event.message.usage)
        elif kind == "content_block_start":
            self._start_block(event.index, event.content_block)
        elif kind == "content_block_delta":
            self._delta(event.index, event.delta)
        elif kind == "message_delta":
            self._stop_reason = event.delta.stop_reason or self._stop_reason
            self._add_usage(event.usage)

    def message(self) -> dict[str, Any]:
        """The complete message; raises `InvalidResponse` when no message started
        or a tool call's input is not a JSON object."""
        if not self._started:
            raise InvalidResponse("the stream ended before message_start")
        content = []
        for index in sorted(self._blocks):
            block = self._blocks[index]
            if block["type"] == "tool_use":
                block = {**block, "input": _tool_input("".join(self._json.get(index, ())))}
            content.append(block)
        return {"content": content, "stop_reason": self._stop_reason, "usage": dict(self._usage)}

    def _add_usage(self, usage: Any) -> None:
        # message_start carries input_tokens; message_delta the cumulative output_tokens
        # (and sometimes an updated input count).
        for name in ("input_tokens", "output_tokens"):
            value = getattr(usage, name, None)
            if isinstance(value, int):
                self._usage[name] = value

    def _start_block(self, index: int, block: Any) -> None:
        if block.type == "text":
            self._blocks[index] = {"type": "text", "text": block.text or ""}
        elif block.type == "tool_use":
            self._blocks[index] = {"type": "tool_use", "id": block.id, "name": block.name}
            self._json[index] = []

    def _delta(self, index: int, delta: Any) -> None:
        block = self._blocks.get(index)
        if block is None:
            return  # a block kind autobot does not use
        if delta.type == "text_delta" and block["type"] == "text":
            block["text"] += delta.text
        elif delta.type == "input_json_delta" and block["type"] == "tool_use":
            self._json[index].append(delta.partial_json)


def _tool_input(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise InvalidResponse("tool_use input is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidResponse("tool_use input is not a JSON object")
    return value
