"""Pure translation between the provider port and the Anthropic Messages API.

`request_params` turns an `LLMRequest` into the keyword arguments of
`messages.create` / `messages.stream`; `response_from_message` turns a
Messages API response (as a JSON-like dict) back into an `LLMResponse`.
No I/O, no SDK imports: both are tested on plain values.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from autobot.llm.types import (
    ChatMessage,
    ImagePart,
    LLMRequest,
    LLMResponse,
    Role,
    ToolCall,
    ToolSpec,
    Usage,
)
from autobot.llm.wire_common import InvalidResponse, optional_str, token_count


def request_params(request: LLMRequest) -> dict[str, Any]:
    """Keyword arguments for the SDK's `messages.create` / `messages.stream`.

    `request.temperature` is not sent: the installed SDK's Messages API has
    no such parameter any more. Raises `ValueError` if a TOOL message has no
    `tool_call_id`.
    """
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": wire_messages(request.messages),
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = [wire_tool(tool) for tool in request.tools]
    return params


def wire_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool definition: `{name, description, input_schema}`."""
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": dict(tool.parameters),
    }


def wire_messages(history: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """History as alternating user/assistant messages of content blocks.

    USER images become base64 `image` blocks followed by the text block
    (images first, as the API advises), ASSISTANT text and tool calls become text
    and `tool_use` blocks, TOOL results become `tool_result` blocks (with
    `is_error` when set) in a user message. Consecutive messages of the same
    wire role are merged, so the tool results answering one assistant turn
    travel in one user message. Messages with nothing to send (empty text, no
    calls) are left out: the API rejects empty content.
    """
    merged: list[dict[str, Any]] = []
    for message in history:
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": blocks})
    return merged


def _blocks(message: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if message.role is Role.USER:
        return "user", [_image_block(image) for image in message.images] + _text_blocks(
            message.content
        )
    if message.role is Role.ASSISTANT:
        calls = [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
            for call in message.tool_calls
        ]
        return "assistant", _text_blocks(message.content) + calls
    if message.tool_call_id is None:
        raise ValueError("a TOOL message needs the tool_call_id of the call it answers")
    result: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message.content,
    }
    if message.is_error:
        result["is_error"] = True
    return "user", [result]


def _text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}] if text else []


def _image_block(image: ImagePart) -> dict[str, Any]:
    """`{"type": "image", "source": {"type": "base64", "media_type", "data"}}`."""
    data = base64.b64encode(image.data).decode("ascii")
    source = {"type": "base64", "media_type": image.media_type, "data": data}
    return {"type": "image", "source": source}


def response_from_message(message: Mapping[str, Any]) -> LLMResponse:
    """An `LLMResponse` from a Messages API `message` object.

    Text blocks are concatenated; `tool_use` blocks become `ToolCall`s; other
    block kinds (thinking, ...) are ignored. Raises `InvalidResponse` when
    the content or a tool call is malformed.
    """
    content = message.get("content")
    if not isinstance(content, list):
        raise InvalidResponse("message has no content list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, Mapping):
            raise InvalidResponse("content block is not an object")
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append(_tool_call(block))
    return LLMResponse(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=_usage(message.get("usage")),
        stop_reason=optional_str(message.get("stop_reason")),
    )


def _tool_call(block: Mapping[str, Any]) -> ToolCall:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise InvalidResponse("tool_use block without a string id and name")
    if not isinstance(arguments, Mapping):
        raise InvalidResponse("tool_use block with a non-object input")
    return ToolCall(id=call_id, name=name, arguments=dict(arguments))


def _usage(usage: object) -> Usage:
    if not isinstance(usage, Mapping):
        return Usage()
    return Usage(
        input_tokens=token_count(usage.get("input_tokens")),
        output_tokens=token_count(usage.get("output_tokens")),
    )
