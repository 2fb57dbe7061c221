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
(`tool_pairing_problem`). Content parts are checked as the API checks them
(`image_problem`: `text` and `image_url` parts, images only in user
messages, a `data:` URL of an allowed image type whose bytes are that type,
or an https URL) and refused with 400 otherwise; `sent_images(body)` decodes
the images a recorded request carried.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from autobot.llm.types import IMAGE_MEDIA_TYPES, MAX_IMAGE_BYTES, ImagePart, image_media_type
from autobot.testing.http_server import HttpResponse
from autobot.testing.llm_script import (
    FakeLLM,
    ScriptedError,
    ScriptedReply,
    Step,
    StepHandler,
    serve_fake_llm,
)

DATA_URL = re.compile(r"data:(?P<type>[a-z]+/[a-z0-9.+-]+);base64,(?P<data>.*)", re.DOTALL)
UNSUPPORTED_IMAGE = (
    "You uploaded an unsupported image. Please make sure your image is below 20 MB in size "
    "and is of one the following formats: ['png', 'jpeg', 'gif', 'webp']."
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
        validate=request_problem,
    )


def request_problem(body: Mapping[str, Any]) -> str | None:
    """What the chat-completions API would answer 400 for in `body`, or None."""
    return tool_pairing_problem(body) or image_problem(body)


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


def image_problem(body: Mapping[str, Any]) -> str | None:
    """The chat-completions 400 for malformed content parts in `body`, or None."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("content"), list):
            continue
        for number, part in enumerate(message["content"]):
            where = f"messages[{index}].content[{number}]"
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text" and isinstance(part.get("text"), str):
                continue
            if kind != "image_url":
                return f"Invalid value at '{where}': expected a text or image_url part"
            if message.get("role") != "user":
                return (
                    f"Invalid '{where}': image URLs are only allowed for messages with role 'user'"
                )
            problem = _image_url_problem(part.get("image_url"))
            if problem is not None:
                return f"Invalid '{where}.image_url': {problem}"
    return None


def _image_url_problem(image_url: object) -> str | None:
    url = image_url.get("url") if isinstance(image_url, Mapping) else None
    if not isinstance(url, str):
        return "expected an object with a string 'url'"
    if url.startswith("https://"):
        return None
    match = DATA_URL.fullmatch(url)
    if match is None:
        return "expected an https URL or a base64 data URL"
    try:
        data = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError):
        return "the data URL is not valid base64"
    media_type = match["type"]
    if media_type not in IMAGE_MEDIA_TYPES or image_media_type(data) != media_type:
        return UNSUPPORTED_IMAGE
    if len(data) > MAX_IMAGE_BYTES:
        return UNSUPPORTED_IMAGE
    return None


def sent_images(body: Mapping[str, Any]) -> list[ImagePart]:
    """The data-URL images of a request `body` (one the fake accepted), in order."""
    images = []
    for message in body.get("messages", []):
        if not isinstance(message.get("content"), list):
            continue
        for part in message["content"]:
            match = DATA_URL.fullmatch(part.get("image_url", {}).get("url", ""))
            if part.get("type") == "image_url" and match is not None:
                data = base64.b64decode(match["data"])
                images.append(ImagePart(media_type=match["type"], data=data))
    return images


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
