"""Images for the model: the `ImagePart` value, both wire dialects, and both
fakes accepting, recording and refusing image blocks like the real APIs."""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx
import pytest

from autobot.config.secret import Secret
from autobot.llm import anthropic_wire, openai_wire
from autobot.llm.anthropic_provider import AnthropicProvider
from autobot.llm.limits import ProviderLimits
from autobot.llm.openai_provider import OpenAICompatibleProvider
from autobot.llm.types import (
    MAX_IMAGE_BYTES,
    ChatMessage,
    ImagePart,
    LLMRequest,
    Role,
    image_media_type,
)
from autobot.testing import fake_anthropic, fake_openai
from autobot.testing.llm_script import ScriptedReply

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF fake jpeg body"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake png"
GIF = b"GIF89a fake gif"
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 fake webp"
LIMITS = ProviderLimits(connect=5, read=30, max_retries=0)
KEY = "sk-ant-api03-SECRETVALUE-do-not-leak"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"GIF87a old gif", "image/gif"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),  # a RIFF file that is audio
        (b"%PDF-1.7", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"", None),
        (b"\xff\xd8", None),  # a truncated JPEG signature
    ],
)
def test_the_media_type_comes_from_the_bytes(data: bytes, media_type: str | None) -> None:
    assert image_media_type(data) == media_type


@pytest.mark.parametrize(
    ("media_type", "data", "problem"),
    [
        ("image/svg+xml", b"<svg/>", "an image's media type is one of image/gif, image/jpeg, "),
        ("image/png", JPEG, "the image's bytes are not image/png"),
        ("image/jpeg", b"", "an image holds 1 to 5242880 bytes, not 0"),
        ("image/jpeg", JPEG + b"\0" * MAX_IMAGE_BYTES, "an image holds 1 to 5242880 bytes"),
    ],
)
def test_a_bad_image_part_is_refused(media_type: str, data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match="^" + problem.replace("+", r"\+")):
        ImagePart(media_type=media_type, data=data)


def test_an_image_part_never_shows_its_bytes() -> None:
    part = ImagePart(media_type="image/jpeg", data=JPEG)
    assert repr(part) == f"ImagePart(media_type='image/jpeg', data=<{len(JPEG)} bytes>)"


@pytest.mark.parametrize("role", [Role.ASSISTANT, Role.TOOL])
def test_only_user_messages_carry_images(role: Role) -> None:
    image = ImagePart(media_type="image/png", data=PNG)
    with pytest.raises(ValueError, match=f"only a user message carries images, not a {role.value}"):
        ChatMessage(role=role, content="x", tool_call_id="t", images=(image,))


PHOTO_MESSAGE = ChatMessage(
    role=Role.USER,
    content="[photo received]\nwhat is this?",
    images=(
        ImagePart(media_type="image/jpeg", data=JPEG),
        ImagePart(media_type="image/png", data=PNG),
    ),
)


def test_anthropic_images_are_base64_blocks_before_the_text() -> None:
    [wire] = anthropic_wire.wire_messages([PHOTO_MESSAGE])
    assert wire == {
        "role": "user",
        "content": [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(JPEG)},
            },
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)},
            },
            {"type": "text", "text": "[photo received]\nwhat is this?"},
        ],
    }
    assert fake_anthropic.request_problem({"messages": [wire]}) is None


def test_openai_images_are_data_url_parts_after_the_text() -> None:
    wire = openai_wire.wire_message(PHOTO_MESSAGE)
    assert wire == {
        "role": "user",
        "content": [
            {"type": "text", "text": "[photo received]\nwhat is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64(JPEG)}"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}},
        ],
    }
    assert fake_openai.request_problem({"messages": [wire]}) is None


def test_a_user_message_without_images_keeps_its_plain_shape() -> None:
    plain = ChatMessage(role=Role.USER, content="hi")
    assert openai_wire.wire_message(plain) == {"role": "user", "content": "hi"}
    assert anthropic_wire.wire_messages([plain]) == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}
    ]


def test_an_image_without_text_is_sent_alone() -> None:
    only = ChatMessage(role=Role.USER, images=(ImagePart(media_type="image/gif", data=GIF),))
    [anthropic] = anthropic_wire.wire_messages([only])
    assert [block["type"] for block in anthropic["content"]] == ["image"]
    assert [part["type"] for part in openai_wire.wire_message(only)["content"]] == ["image_url"]


# ---- the fakes, through the real clients ------------------------------------------------


async def test_the_anthropic_fake_records_what_the_sdk_sent() -> None:
    request = LLMRequest(model="claude-test", system="", messages=(PHOTO_MESSAGE,))
    async with (
        fake_anthropic.serve_fake_anthropic([ScriptedReply(text="a cat")]) as fake,
        AnthropicProvider(
            api_key=Secret(KEY), api_base=fake.base_url, limits=LIMITS, rng=random.Random(1)
        ) as llm,
    ):
        response = await llm.complete(request)
    assert response.text == "a cat"
    [body] = fake.bodies()
    assert fake_anthropic.sent_images(body) == list(PHOTO_MESSAGE.images)


async def test_the_openai_fake_records_what_the_client_sent() -> None:
    request = LLMRequest(model="gpt-4o", system="", messages=(PHOTO_MESSAGE,))
    async with (
        fake_openai.serve_fake_openai([ScriptedReply(text="a cat")]) as fake,
        OpenAICompatibleProvider(
            name="openai",
            api_base=fake.base_url,
            api_key=Secret("sk-proj-x"),
            limits=LIMITS,
            rng=random.Random(1),
        ) as llm,
    ):
        response = await llm.complete(request)
    assert response.text == "a cat"
    [body] = fake.bodies()
    assert fake_openai.sent_images(body) == list(PHOTO_MESSAGE.images)


def anthropic_image(**source: Any) -> dict[str, Any]:
    return {"type": "image", "source": source}


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (
            [{"role": "user", "content": [anthropic_image(type="base64", media_type="image/png", data=b64(JPEG))]}],
            "messages.0.content.0.image.source: Image does not match the provided media type image/png",
        ),
        (
            [{"role": "user", "content": [anthropic_image(type="base64", media_type="image/bmp", data=b64(JPEG))]}],
            "messages.0.content.0.image.source: base64.media_type: Input should be 'image/gif', 'image/jpeg', 'image/png', 'image/webp'",
        ),
        (
            [{"role": "user", "content": [anthropic_image(type="base64", media_type="image/jpeg", data="not base64!")]}],
            "messages.0.content.0.image.source: base64.data: invalid base64 data",
        ),
        (
            [{"role": "user", "content": [anthropic_image(type="file", file_id="f")]}],
            "messages.0.content.0.image.source: Input tag does not match any of the expected tags: 'base64', 'url'",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [anthropic_image(type="base64", media_type="image/jpeg", data=b64(JPEG))]},
            ],
            "messages.1.content.0.image: images are only allowed in user messages",
        ),
        (
            [{"role": "user", "content": [anthropic_image(type="base64", media_type="image/jpeg", data=b64(JPEG + b"\0" * MAX_IMAGE_BYTES))]}],
            f"messages.0.content.0.image.source: image exceeds 5 MB maximum: {len(JPEG) + MAX_IMAGE_BYTES} bytes > 5242880 bytes",
        ),
    ],
)  # fmt: skip
async def test_the_anthropic_fake_refuses_malformed_images(
    messages: list[dict[str, Any]], problem: str
) -> None:
    body = {"model": "claude-test", "max_tokens": 10, "messages": messages}
    async with (
        fake_anthropic.serve_fake_anthropic() as fake,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        answer = await client.post(f"{fake.base_url}/v1/messages", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": problem}


def openai_image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (
            [{"role": "user", "content": [openai_image(f"data:image/png;base64,{b64(JPEG)}")]}],
            f"Invalid 'messages[0].content[0].image_url': {fake_openai.UNSUPPORTED_IMAGE}",
        ),
        (
            [{"role": "user", "content": [openai_image(f"data:image/tiff;base64,{b64(JPEG)}")]}],
            f"Invalid 'messages[0].content[0].image_url': {fake_openai.UNSUPPORTED_IMAGE}",
        ),
        (
            [{"role": "user", "content": [openai_image("data:image/jpeg;base64,@@@")]}],
            "Invalid 'messages[0].content[0].image_url': the data URL is not valid base64",
        ),
        (
            [{"role": "user", "content": [openai_image("http://169.254.169.254/latest")]}],
            "Invalid 'messages[0].content[0].image_url': expected an https URL or a base64 data URL",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}],
            "Invalid 'messages[0].content[0].image_url': expected an object with a string 'url'",
        ),
        (
            [{"role": "user", "content": [{"type": "audio", "data": "x"}]}],
            "Invalid value at 'messages[0].content[0]': expected a text or image_url part",
        ),
        (
            [{"role": "system", "content": [openai_image(f"data:image/jpeg;base64,{b64(JPEG)}")]}],
            "Invalid 'messages[0].content[0]': image URLs are only allowed for messages with role 'user'",
        ),
    ],
)  # fmt: skip
async def test_the_openai_fake_refuses_malformed_images(
    messages: list[dict[str, Any]], problem: str
) -> None:
    body = {"model": "gpt-4o", "messages": messages}
    async with (
        fake_openai.serve_fake_openai() as fake,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        answer = await client.post(f"{fake.base_url}/v1/chat/completions", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == problem
