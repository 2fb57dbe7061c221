"""The provider port: provider-neutral conversation values and the `LLMProvider` protocol.

Adapters (Anthropic, OpenAI-compatible) translate these to and from their wire
dialects; the agent loop and session store only ever see these types.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs


class Role(enum.Enum):
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@attrs.frozen(kw_only=True)
class ToolCall:
    """One tool invocation requested by the model."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class ChatMessage:
    """One turn of history.

    USER: `content` is the user's text. ASSISTANT: `content` is the text (may be
    empty) and `tool_calls` the requested calls. TOOL: the result of the call
    `tool_call_id`, with `is_error` set when the tool failed.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@attrs.frozen(kw_only=True)
class ToolSpec:
    """A tool as offered to the model: name, description, JSON schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@attrs.frozen(kw_only=True)
class LLMRequest:
    """Everything one completion needs; `model` is the bare model name."""

    model: str
    system: str
    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int = 8192
    temperature: float = 0.7


@attrs.frozen(kw_only=True)
class LLMResponse:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    stop_reason: str | None = None


class ProviderError(Exception):
    """A provider call failed after its retries; the message is for logs only
    (redacted there) and never reaches a chat."""


class LLMProvider(Protocol):
    """Anything that completes a conversation."""

    @property
    def name(self) -> str: ...

    async def complete(self, request: LLMRequest) -> LLMResponse: ...
