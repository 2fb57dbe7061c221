"""A loopback fake of the Anthropic Messages API, for the real SDK to talk to.

    async with serve_fake_anthropic([ScriptedReply(text="hi")]) as fake:
        provider = AnthropicProvider(api_base=fake.base_url, ...)
        ...
        assert fake.requests[0].json()["model"] == "claude-test"

`POST <any prefix>/v1/messages` answers with a JSON message, or with SSE
events when the body asks for `"stream": true` (message_start,
content_block_start/delta/stop with text_delta and input_json_delta,
message_delta, message_stop). Errors use the API's error body and a
`request-id` header. Any other route is a 404 (and recorded). Like the real
API, a history with a `tool_use` not answered by a `tool_result` in the next
message, or a `tool_result` whose `tool_use` is not in the previous one, is
refused with 400 (`tool_pairing_problem`). Image blocks are checked as the
API checks them (`image_problem`: only in user messages, a `base64` source
of an allowed media type whose bytes are that type, at most 5 MB; or a `url`
source) and refused with 400 otherwise; `sent_images(body)` decodes the
images a recorded request carried.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Iterable, Mapping
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

STREAM_CHUNK_CHARS = 8  # text and tool-input JSON are streamed in pieces this long
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def serve_fake_anthropic(
    script: Iterable[Step] = (), *, handler: StepHandler | None = None
) -> AbstractAsyncContextManager[FakeLLM]:
    """Run the fake on 127.0.0.1 for the duration of the block: answers come from
    `script` in order or from `handler(request_json)`; raises as `serve_fake_llm`."""
    return serve_fake_llm(
        script,
        handler,
        route_suffix="/v1/messages",
        answer=_answer,
        answer_error=_error_response,
        validate=request_problem,
    )


def request_problem(body: Mapping[str, Any]) -> str | None:
    """What the Messages API would answer 400 for in `body`, or None."""
    return tool_pairing_problem(body) or image_problem(body)


def _blocks_of(message: object, kind: str) -> list[Mapping[str, Any]]:
    if not isinstance(message, Mapping) or not isinstance(message.get("content"), list):
        return []
    return [b for b in message["content"] if isinstance(b, Mapping) and b.get("type") == kind]


def tool_pairing_problem(body: Mapping[str, Any]) -> str | None:
    """The Messages API's 400 for unpaired tool blocks in `body`, or None.

    Every `tool_use` must be answered by a `tool_result` in the next message,
    and every `tool_result` must answer a `tool_use` of the previous message.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None  # not what this check is about
    for index, message in enumerate(messages):
        previous = messages[index - 1] if index else None
        offered = {block.get("id") for block in _blocks_of(previous, "tool_use")}
        for block in _blocks_of(message, "tool_result"):
            if block.get("tool_use_id") not in offered:
                return (
                    f"messages.{index}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                    f"corresponding `tool_use` block in the previous message."
                )
        following = messages[index + 1] if index + 1 < len(messages) else None
        answered = {block.get("tool_use_id") for block in _blocks_of(following, "tool_result")}
        missing = [
            str(block.get("id"))
            for block in _blocks_of(message, "tool_use")
            if block.get("id") not in answered
        ]
        if missing:
            return (
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                f"corresponding `tool_result` block in the next message."
            )
    return None


def image_problem(body: Mapping[str, Any]) -> str | None:
    """The Messages API's 400 for a malformed `image` block in `body`, or None."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for index, message in enumerate(messages):
        for number, block in enumerate(_blocks_of(message, "image")):
            where = f"messages.{index}.content.{number}.image"
            if message.get("role") != "user":
                return f"{where}: images are only allowed in user messages"
            problem = _source_problem(block.get("source"))
            if problem is not None:
                return f"{where}.source: {problem}"
    return None


def _source_problem(source: object) -> str | None:
    if not isinstance(source, Mapping):
        return "Field required"
    if source.get("type") == "url":
        url = source.get("url")
        return None if isinstance(url, str) and url.startswith("https://") else "invalid url"
    if source.get("type") != "base64":
        return "Input tag does not match any of the expected tags: 'base64', 'url'"
    media_type = source.get("media_type")
    if media_type not in IMAGE_MEDIA_TYPES:
        allowed = ", ".join(f"'{name}'" for name in sorted(IMAGE_MEDIA_TYPES))
        return f"base64.media_type: Input should be {allowed}"
    try:
        data = base64.b64decode(str(source.get("data")), validate=True)
    except (binascii.Error, ValueError):
        return "base64.data: invalid base64 data"
    if len(data) > MAX_IMAGE_BYTES:
        return f"image exceeds 5 MB maximum: {len(data)} bytes > {MAX_IMAGE_BYTES} bytes"
    if image_media_type(data) != media_type:
        return f"Image does not match the provided media type {media_type}"
    return None


def sent_images(body: Mapping[str, Any]) -> list[ImagePart]:
    """The base64 images of a request `body` (one the fake accepted), in order."""
    images = []
    for message in body.get("messages", []):
        for block in _blocks_of(message, "image"):
            source = block["source"]
            if source["type"] == "base64":
                data = base64.b64decode(source["data"])
                images.append(ImagePart(media_type=source["media_type"], data=data))
    return images


def _answer(fake: FakeLLM, body: Mapping[str, Any], step: Step) -> HttpResponse:
    """A JSON message, SSE events when the body asks to stream, or the error."""
    if isinstance(step, ScriptedError) and not (step.mid_stream and body.get("stream")):
        return _error_response(fake, step)
    message = _message(fake, body, step)
    if body.get("stream"):
        return HttpResponse(
            status=200,
            headers={"content-type": "text/event-stream", **_request_id(fake)},
            stream=_sse(message, step if isinstance(step, ScriptedError) else None),
        )
    return HttpResponse.json(200, message, _request_id(fake))


def _request_id(fake: FakeLLM) -> dict[str, str]:
    return {"request-id": fake.new_id("req")}


def _error_body(step: ScriptedError) -> dict[str, Any]:
    error_type = step.error_type or ERROR_TYPES.get(step.status, "api_error")
    return {"type": "error", "error": {"type": error_type, "message": step.message}}


def _error_response(fake: FakeLLM, step: ScriptedError) -> HttpResponse:
    headers = _request_id(fake)
    if step.retry_after is not None:
        headers["retry-after"] = step.retry_after
    return HttpResponse.json(step.status, _error_body(step), headers)


def _message(fake: FakeLLM, body: Mapping[str, Any], step: Step) -> dict[str, Any]:
    """The complete `message` object a reply step stands for (empty for an error)."""
    reply = step if isinstance(step, ScriptedReply) else ScriptedReply()
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        arguments = (
            json.loads(call.arguments) if isinstance(call.arguments, str) else call.arguments
        )
        content.append(
            {
                "type": "tool_use",
                "id": call.id or fake.new_id("toolu"),
                "name": call.name,
                "input": dict(arguments),
            }
        )
    default_stop = "tool_use" if reply.tool_calls else "end_turn"
    return {
        "id": fake.new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": reply.stop_reason or default_stop,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _pieces(text: str) -> list[str]:
    return [text[i : i + STREAM_CHUNK_CHARS] for i in range(0, len(text), STREAM_CHUNK_CHARS)]


async def _sse(message: Mapping[str, Any], error: ScriptedError | None) -> AsyncIterator[bytes]:
    """The message as Messages API stream events; an `error` event after
    message_start when `error` is given."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
    yield _event("message_start", {"type": "message_start", "message": start})
    if error is not None:
        yield _event("error", _error_body(error))
        return
    yield _event("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        for event in _block_events(index, block):
            yield event
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield _event("message_stop", {"type": "message_stop"})


def _block_events(index: int, block: Mapping[str, Any]) -> list[bytes]:
    opening: dict[str, Any]
    if block["type"] == "text":
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
    else:
        opening = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in _pieces(json.dumps(block["input"]))
        ]
    return [
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        ),
        *(
            _event(
                "content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}
            )
            for d in deltas
        ),
        _event("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]
