"""Pure translation between the provider port and the OpenAI chat-completions dialect.

`request_body` builds the JSON body of `POST /v1/chat/completions`;
`response_from_completion` reads its answer. Used for every OpenAI-compatible
endpoint (openai, openrouter, deepseek, groq, vllm). No I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from autobot.llm.tool_arguments import INVALID_ARGUMENTS_KEY, tool_call
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

# The OpenAI dialect has no error flag on tool results, so the text says so.
TOOL_ERROR_PREFIX = "Error: "


def request_body(request: LLMRequest, *, max_tokens_field: str = "max_tokens") -> dict[str, Any]:
    """The JSON body for one completion.

    `max_tokens_field` names the output limit (`max_completion_tokens` for
    api.openai.com, whose newer models reject `max_tokens`). Raises
    `ValueError` if a TOOL message has no `tool_call_id`.
    """
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend(wire_message(message) for message in request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        max_tokens_field: request.max_tokens,
        "temperature": request.temperature,
    }
    if request.tools:
        body["tools"] = [wire_tool(tool) for tool in request.tools]
    return body


def wire_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool in the function-calling dialect."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        },
    }


def wire_message(message: ChatMessage) -> dict[str, Any]:
    """One history message: user, assistant (with `tool_calls`), or role `tool`.

    A user message with images has a list of content parts: the text, then
    one `image_url` part per image, its URL a base64 `data:` URL.
    """
    if message.role is Role.USER:
        if not message.images:
            return {"role": "user", "content": message.content}
        text = [{"type": "text", "text": message.content}] if message.content else []
        return {"role": "user", "content": text + [_image_part(i) for i in message.images]}
    if message.role is Role.ASSISTANT:
        wire: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            wire["tool_calls"] = [_wire_call(call) for call in message.tool_calls]
        return wire
    if message.tool_call_id is None:
        raise ValueError("a TOOL message needs the tool_call_id of the call it answers")
    content = TOOL_ERROR_PREFIX + message.content if message.is_error else message.content
    return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}


def _image_part(image: ImagePart) -> dict[str, Any]:
    data = base64.b64encode(image.data).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{image.media_type};base64,{data}"}}


def _wire_call(call: ToolCall) -> dict[str, Any]:
    arguments = {} if INVALID_ARGUMENTS_KEY in call.arguments else dict(call.arguments)
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(arguments)},
    }


def response_from_completion(completion: Mapping[str, Any]) -> LLMResponse:
    """An `LLMResponse` from a chat-completions answer (its first choice).

    A tool call with malformed JSON arguments is kept and marked (see
    `tool_arguments`), never raised. Raises `InvalidResponse` when there is
    no choice or message, or a tool call has no function name.
    """
    choices = completion.get("choices")
    if not isinstance(choices, Sequence) or not choices or not isinstance(choices[0], Mapping):
        raise InvalidResponse("completion has no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise InvalidResponse("first choice has no message")
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, Sequence):
        raise InvalidResponse("tool_calls is not a list")
    return LLMResponse(
        text=optional_str(message.get("content")) or "",
        tool_calls=tuple(_tool_call(index, raw) for index, raw in enumerate(raw_calls)),
        usage=_usage(completion.get("usage")),
        stop_reason=optional_str(choices[0].get("finish_reason")),
    )


def _tool_call(index: int, raw: object) -> ToolCall:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("function"), Mapping):
        raise InvalidResponse("tool call without a function object")
    function = raw["function"]
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidResponse("tool call without a function name")
    call_id = raw.get("id")
    if not isinstance(call_id, str) or not call_id:
        call_id = f"call_{index}"  # some compatible servers omit ids
    return tool_call(call_id, name, function.get("arguments"))


def _usage(usage: object) -> Usage:
    if not isinstance(usage, Mapping):
        return Usage()
    return Usage(
        input_tokens=token_count(usage.get("prompt_tokens")),
        output_tokens=token_count(usage.get("completion_tokens")),
    )
