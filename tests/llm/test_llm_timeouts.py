"""Timeouts and dropped connections in both providers: what is retried, what is not.

Retried: failures before the request was sent (connect, pool wait) or before
any answer byte (connection refused or dropped). Not retried: a read timeout
once the request was sent, or a failure while the answer arrives; the model
may be generating (and billing) it, so a retry could pay twice.
Real SDK / httpx against loopback servers; autojump_clock, exact times.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator

import pytest
import trio

from autobot.config.secret import Secret
from autobot.llm.anthropic_provider import AnthropicProvider
from autobot.llm.limits import ProviderLimits
from autobot.llm.openai_provider import OpenAICompatibleProvider
from autobot.llm.types import ChatMessage, LLMRequest, ProviderError, Role
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_openai import serve_fake_openai
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.llm_script import ScriptedReply

REQUEST = LLMRequest(
    model="m", system="s", messages=(ChatMessage(role=Role.USER, content="hi"),), max_tokens=50
)
NOT_RETRIED = "timeout waiting for the answer (not retried) after 1 attempt"


def _anthropic(base_url: str, limits: ProviderLimits, *, stream: bool = True) -> AnthropicProvider:
    return AnthropicProvider(
        api_key=Secret("sk-ant-timeouts"),
        api_base=base_url,
        limits=limits,
        rng=random.Random(1),
        stream=stream,
    )


def _openai(base_url: str, limits: ProviderLimits) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        name="groq",
        api_base=base_url,
        api_key=Secret("gsk-timeouts"),
        limits=limits,
        rng=random.Random(1),
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_anthropic_read_timeout_is_not_retried(
    stream: bool, autojump_clock: trio.abc.Clock
) -> None:
    limits = ProviderLimits(read=30, response_read=45, max_retries=3)
    async with serve_fake_anthropic([ScriptedReply(latency=1000)] * 4) as fake:
        async with _anthropic(fake.base_url, limits, stream=stream) as llm:
            start = trio.current_time()
            with pytest.raises(ProviderError) as raised:
                await llm.complete(REQUEST)
            assert trio.current_time() - start == pytest.approx(30 if stream else 45)
        assert len(fake.requests) == 1
    assert str(raised.value) == f"anthropic: {NOT_RETRIED}"


async def test_openai_read_timeout_is_the_long_one_and_not_retried(
    autojump_clock: trio.abc.Clock,
) -> None:
    limits = ProviderLimits(read=30, response_read=45, max_retries=3)
    async with serve_fake_openai([ScriptedReply(latency=1000)] * 4) as fake:
        async with _openai(fake.base_url, limits) as llm:
            start = trio.current_time()
            with pytest.raises(ProviderError) as raised:
                await llm.complete(REQUEST)
            assert trio.current_time() - start == pytest.approx(45)
        assert len(fake.requests) == 1
    assert str(raised.value) == f"groq: {NOT_RETRIED}"


async def test_openai_long_answer_within_the_default_limits(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Nothing arrives before a non-streamed answer is complete: five minutes
    of generation must not time out (the old 120 s read timeout did)."""
    script = [ScriptedReply(text="a long essay", latency=300)]
    async with serve_fake_openai(script) as fake, _openai(fake.base_url, ProviderLimits()) as llm:
        response = await llm.complete(REQUEST)
    assert response.text == "a long essay"


async def _stalled(first: bytes) -> AsyncIterator[bytes]:
    yield first
    await trio.sleep(1000)


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_an_answer_cut_off_midway_is_not_retried(
    dialect: str, autojump_clock: trio.abc.Clock
) -> None:
    seen: list[HttpRequest] = []
    if dialect == "anthropic":
        start_event = {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "m",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        }
        first = f"event: message_start\ndata: {json.dumps(start_event)}\n\n".encode()
        content_type = "text/event-stream"
    else:
        first, content_type = b'{"choices": [', "application/json"

    async def handler(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        headers = {"content-type": content_type}
        return HttpResponse(status=200, headers=headers, stream=_stalled(first))

    limits = ProviderLimits(read=30, response_read=30, max_retries=3)
    async with serve_http(handler) as server:
        llm = (_anthropic if dialect == "anthropic" else _openai)(server.base_url, limits)
        async with llm:
            with pytest.raises(ProviderError) as raised:
                await llm.complete(REQUEST)
    assert len(seen) == 1
    expected = (
        NOT_RETRIED
        if dialect == "anthropic"
        else "answer interrupted (not retried) after 1 attempt"
    )
    assert str(raised.value).partition(": ")[2] == expected


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_connection_refused_is_retried(dialect: str, autojump_clock: trio.abc.Clock) -> None:
    async def never(request: HttpRequest) -> HttpResponse:
        raise AssertionError("the server is closed before any request")

    async with serve_http(never) as server:
        base_url = server.base_url  # closed at the end of the block: connections are refused
    limits = ProviderLimits(max_retries=2)
    llm = (_anthropic if dialect == "anthropic" else _openai)(base_url, limits)
    async with llm:
        with pytest.raises(ProviderError) as raised:
            await llm.complete(REQUEST)
    assert str(raised.value).endswith(": connection failed after 3 attempts")
