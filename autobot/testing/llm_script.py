"""What a fake LLM server says: scripted replies and errors, shared by both fakes.

A fake answers each request from either a queue of scripted steps (in order;
running out is a test bug, reported when the fake's block exits) or a
`handler(request_json) -> step` callable. `serve_fake_llm` is the server loop
both dialects share; each dialect only says how a step becomes a response. A `ScriptedReply` is text and/or
tool calls; a `ScriptedError` is an HTTP error (with an optional
`retry-after`). Either may carry `latency` seconds, slept with `trio.sleep`
before answering so autojump tests and benchmarks can model a slow model.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from autobot.testing.http_server import HttpRequest, HttpResponse, LoopbackServer, serve_http


@attrs.frozen(kw_only=True)
class ScriptedToolCall:
    """A tool call the fake model makes. `arguments` as a str is sent verbatim
    (OpenAI dialect: lets a test send malformed JSON); `id` is generated if None."""

    name: str
    arguments: Mapping[str, Any] | str = attrs.field(factory=dict)
    id: str | None = None


@attrs.frozen(kw_only=True)
class ScriptedReply:
    """A successful completion. `stop_reason` defaults to the dialect's
    tool-use or end-of-turn reason depending on `tool_calls`."""

    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    input_tokens: int = 10
    output_tokens: int = 5
    stop_reason: str | None = None
    latency: float = 0.0


@attrs.frozen(kw_only=True)
class ScriptedError:
    """An error answer: HTTP `status` with the dialect's error body.

    `retry_after` is sent verbatim as the `retry-after` header. `error_type`
    defaults from the status (429 rate_limit_error, 529 overloaded_error...).
    `mid_stream` (Anthropic SSE only): answer 200, start the message, then
    send an SSE `error` event, as the real API does when it overloads mid-answer.
    """

    status: int
    retry_after: str | None = None
    error_type: str | None = None
    message: str = "scripted error"
    latency: float = 0.0
    mid_stream: bool = False


Step = ScriptedReply | ScriptedError
StepHandler = Callable[[Mapping[str, Any]], Step]


class ScriptExhausted(AssertionError):
    """The fake received more requests than its script has steps."""


@attrs.define
class Steps:
    """The source of answers: a script queue or a handler (exactly one)."""

    script: collections.deque[Step]
    handler: StepHandler | None

    @classmethod
    def of(cls, script: Iterable[Step], handler: StepHandler | None) -> Steps:
        """Raises `ValueError` when both a non-empty script and a handler are given."""
        queue = collections.deque(script)
        if queue and handler is not None:
            raise ValueError("give a fake LLM either a script or a handler, not both")
        return cls(queue, handler)

    def next(self, request_json: Mapping[str, Any]) -> Step:
        """The answer to this request; raises `ScriptExhausted` when the script ran out."""
        if self.handler is not None:
            return self.handler(request_json)
        if not self.script:
            raise ScriptExhausted("the fake LLM script has no step left for this request")
        return self.script.popleft()


@attrs.define(kw_only=True)
class FakeLLM:
    """A running fake: `base_url` to point a provider at, and every request received
    (`HttpRequest`: method, path, lower-case headers, body; `.json()` decodes it)."""

    server: LoopbackServer
    requests: list[HttpRequest] = attrs.field(factory=list)
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def new_id(self, prefix: str) -> str:
        """A fresh id unique within this fake (`toolu_1`, `msg_2`, ...)."""
        return f"{prefix}_{next(self._ids)}"

    def bodies(self) -> list[Any]:
        """The decoded JSON body of every request, in arrival order."""
        return [request.json() for request in self.requests]


Answer = Callable[[FakeLLM, Mapping[str, Any], Step], HttpResponse]
ErrorAnswer = Callable[[FakeLLM, ScriptedError], HttpResponse]
# What the real API would reject the request body for (HTTP 400), or None.
Validator = Callable[[Mapping[str, Any]], str | None]


@asynccontextmanager
async def serve_fake_llm(
    script: Iterable[Step],
    handler: StepHandler | None,
    *,
    route_suffix: str,
    answer: Answer,
    answer_error: ErrorAnswer,
    validate: Validator | None = None,
) -> AsyncIterator[FakeLLM]:
    """Run a fake LLM on 127.0.0.1 for the duration of the block.

    Every request is recorded. A `POST` whose path ends with `route_suffix`
    is first checked by `validate` (a problem is answered 400
    `invalid_request_error`, as the real API would, without taking a step);
    then it takes the next step (from `script` or `handler(request_json)`),
    sleeps its `latency`, and is answered by `answer(fake, request_json, step)`;
    any other route gets `answer_error(fake, <404 "no such route">)`.
    Raises `ValueError` if both `script` and `handler` are given; raises
    `ScriptExhausted` at block exit if a request found the script empty.
    """
    steps = Steps.of(script, handler)
    fake: FakeLLM | None = None

    async def respond(request: HttpRequest) -> HttpResponse:
        assert fake is not None
        fake.requests.append(request)
        if request.method != "POST" or not request.path.endswith(route_suffix):
            return answer_error(fake, ScriptedError(status=404, message="no such route"))
        body = request.json()
        problem = None if validate is None else validate(body)
        if problem is not None:
            error = ScriptedError(status=400, error_type="invalid_request_error", message=problem)
            return answer_error(fake, error)
        step = steps.next(body)
        await trio.sleep(step.latency)
        return answer(fake, body, step)

    async with serve_http(respond) as server:
        fake = FakeLLM(server=server)
        yield fake
