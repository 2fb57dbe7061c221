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


# What both wire dialects accept as an inline image (Anthropic and OpenAI alike).
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the Messages API's limit for one base64 image


def _image_media_type(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in IMAGE_MEDIA_TYPES:
        allowed = ", ".join(sorted(IMAGE_MEDIA_TYPES))
        raise ValueError(f"an image's media type is one of {allowed}, not {value!r}")


def image_media_type(data: bytes) -> str | None:
    """The media type `data` really is by its signature (JPEG, PNG, GIF,
    WebP), whatever its name or label says; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _image_data(instance: ImagePart, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if not 0 < len(value) <= MAX_IMAGE_BYTES:
        raise ValueError(f"an image holds 1 to {MAX_IMAGE_BYTES} bytes, not {len(value)}")
    if image_media_type(value) != instance.media_type:
        raise ValueError(f"the image's bytes are not {instance.media_type}")


@attrs.frozen(kw_only=True)
class ImagePart:
    """An image shown to the model with a user message: its bytes and media
    type (one of `IMAGE_MEDIA_TYPES`, which the bytes' signature must match,
    at most `MAX_IMAGE_BYTES`). Raises `ValueError` otherwise. Its repr
    names the size, never the bytes."""

    media_type: str = attrs.field(validator=_image_media_type)
    data: bytes = attrs.field(validator=_image_data, repr=lambda data: f"<{len(data)} bytes>")


def _user_only(
    instance: ChatMessage,
    attribute: attrs.Attribute[tuple[ImagePart, ...]],
    value: tuple[ImagePart, ...],
) -> None:
    if value and instance.role is not Role.USER:
        raise ValueError(f"only a user message carries images, not a {instance.role.value} one")


@attrs.frozen(kw_only=True)
class ChatMessage:
    """One turn of history.

    USER: `content` is the user's text, and `images` what the user showed the
    model this turn (only in a request: the session journal never records
    them, see `autobot.agent.session_store.encode_message`). ASSISTANT: `content`
    is the text (may be empty) and `tool_calls` the requested calls. TOOL: the
    result of the call `tool_call_id`, with `is_error` set when the tool
    failed. Raises `ValueError` for images on any other role than USER.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False
    images: tuple[ImagePart, ...] = attrs.field(default=(), validator=_user_only)


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
