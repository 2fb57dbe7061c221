"""An in-memory `LLMProvider` for tests and the router benchmark.

`ScriptedProvider` answers each `complete()` from a `responder` (a function
of the request) after an optional virtual `latency` (seconds, or a function of
the request; trio.sleep, so autojump tests see exact times). `from_script` builds one that replays a list of
steps in order: an `LLMResponse` is returned, an exception instance raised.
Every request is recorded for assertions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import trio

from autobot.llm.types import ChatMessage, LLMRequest, LLMResponse, Role, ToolCall, Usage

Responder = Callable[[LLMRequest], LLMResponse]
Step = LLMResponse | Exception


def text_reply(text: str, *, input_tokens: int = 10, output_tokens: int = 5) -> LLMResponse:
    """A final answer."""
    return LLMResponse(
        text=text,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        stop_reason="end_turn",
    )


def tool_reply(
    *calls: tuple[str, dict[str, Any]],
    text: str = "",
    input_tokens: int = 10,
    output_tokens: int = 5,
    id_prefix: str = "call",
) -> LLMResponse:
    """A response asking for tool calls `(name, arguments)`, ids `call_0`, `call_1`..."""
    return LLMResponse(
        text=text,
        tool_calls=tuple(
            ToolCall(id=f"{id_prefix}_{i}", name=name, arguments=args)
            for i, (name, args) in enumerate(calls)
        ),
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        stop_reason="tool_use",
    )


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The content of the most recent USER message ('' if none)."""
    for message in reversed(messages):
        if message.role is Role.USER:
            return message.content
    return ""


def echo_responder(request: LLMRequest) -> LLMResponse:
    """Answers `echo: <last user message>`."""
    return text_reply(f"echo: {last_user_text(request.messages)}")


@attrs.define(kw_only=True)
class ScriptedProvider:
    """A fake provider: `responder(request)` after `latency` seconds."""

    responder: Responder = echo_responder
    latency: float | Callable[[LLMRequest], float] = 0.0
    name: str = "scripted"
    requests: list[LLMRequest] = attrs.field(factory=list)

    @classmethod
    def from_script(cls, steps: Iterable[Step], *, latency: float = 0.0) -> ScriptedProvider:
        """Replays `steps` in order; raises AssertionError when they run out."""
        pending = list(steps)

        def next_step(request: LLMRequest) -> LLMResponse:
            if not pending:
                raise AssertionError("ScriptedProvider: script exhausted")
            step = pending.pop(0)
            if isinstance(step, Exception):
                raise step
            return step

        return cls(responder=next_step, latency=latency)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        delay = self.latency(request) if callable(self.latency) else self.latency
        if delay:
            await trio.sleep(delay)
        return self.responder(request)
