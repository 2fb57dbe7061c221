"""A loopback fake of an OpenAI-compatible chat-completions endpoint.

    async with serve_fake_openai([ScriptedReply(text="hi")]) as fake:
        provider = OpenAICompatibleProvider(api_base=fake.base_url, ...)

`POST <any prefix>/chat/completions` answers with a `chat.completion` whose
first choice carries the scripted text and `tool_calls` (arguments as JSON
strings; a `str` in the script is sent verbatim, so a test can send malformed
JSON). Errors use the `{"error": {...}}` body and an `x-request-id` header.
Any other route is a 404 (and recorded). Like the real API, an assistant
`tool_calls` message not followed by a `tool` message for each call, or a
`tool` message answering no preceding call, is refused with 400
(`tool_pairing_problem`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from autobot.testing.http_server import HttpResponse
from autobot.testing.llm_script import (
    FakeLLM,
    ScriptedError,
    ScriptedReply,
    Step,
    StepHandler,
    serve_fake_llm,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    404: "not_found",
    429: "rate_limit_exceeded",
}


def serve_fake_openai(
    script: Iterable[Step] = (), *, handler: StepHandler | None = None
) -> AbstractAsyncContextManager[FakeLLM]:
    """Run the fake on 127.0.0.1 for the duration of the block: answers come from
    `script` in order or from `handler(request_json)`; raises as `serve_fake_llm`."""
    return serve_fake_llm(
        script,
        handler,
        route_suffix="/chat/completions",
        answer=_answer,
        answer_error=_error_response,
        validate=tool_pairing_problem,
    )


def tool_pairing_problem(body: Mapping[str, Any]) -> str | None:
    """The chat-completions 400 for unpaired tool messages in `body`, or None.

    An assistant message with `tool_calls` must be followed by one `tool`
    message per call id; a `tool` message must answer a call of the nearest
    assistant message before it (with only tool messages in between).
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None  # not what this check is about
    pending: set[str] | None = None
    for message in [*messages, {"role": "end"}]:
        role = message.get("role") if isinstance(message, Mapping) else None
        if role == "tool":
            if pending is None or message.get("tool_call_id") not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(sorted(pending))}"
            )
        calls = message.get("tool_calls") if role == "assistant" else None
        pending = (
            {str(c.get("id")) for c in calls if isinstance(c, Mapping)}
            if isinstance(calls, list) and calls
            else None
        )
    return None


def _answer(fake: FakeLLM, body: Mapping[str, Any], step: Step) -> HttpResponse:
    """A `chat.completion`, or the error."""
    if isinstance(step, ScriptedError):
        return _error_response(fake, step)
    return HttpResponse.json(200, _completion(fake, body, step), _request_id(fake))


def _request_id(fake: FakeLLM) -> dict[str, str]:
    return {"x-request-id": fake.new_id("req")}


def _error_response(fake: FakeLLM, step: ScriptedError) -> HttpResponse:
    headers = _request_id(fake)
    if step.retry_after is not None:
        headers["retry-after"] = step.retry_after
    error_type = step.error_type or ERROR_TYPES.get(step.status, "server_error")
    body = {"error": {"message": step.message, "type": error_type, "code": None}}
    return HttpResponse.json(step.status, body, headers)


def _completion(fake: FakeLLM, body: Mapping[str, Any], reply: ScriptedReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or fake.new_id("call"),
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(dict(call.arguments)),
                },
            }
            for call in reply.tool_calls
        ]
    default_finish = "tool_calls" if reply.tool_calls else "stop"
    return {
        "id": fake.new_id("chatcmpl"),
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", ""),
        "choices": [
            {"index": 0, "message": message, "finish_reason": reply.stop_reason or default_finish}
        ],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
    }
