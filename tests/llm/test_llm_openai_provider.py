"""OpenAICompatibleProvider: real httpx against the loopback chat-completions fake."""

from __future__ import annotations

import random
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from autobot.config.secret import Secret
from autobot.llm.limits import ProviderLimits
from autobot.llm.openai_provider import OpenAICompatibleProvider, chat_completions_url
from autobot.llm.tool_arguments import invalid_arguments
from autobot.llm.types import ChatMessage, LLMRequest, ProviderError, Role, ToolCall, ToolSpec
from autobot.testing.fake_openai import serve_fake_openai
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.llm_script import FakeLLM, ScriptedError, ScriptedReply, ScriptedToolCall, Step

KEY = "sk-proj-SECRETVALUE-do-not-leak"
LIMITS = ProviderLimits(connect=5, read=30, max_retries=3)
REQUEST = LLMRequest(
    model="gpt-test",
    system="Be brief.",
    messages=(ChatMessage(role=Role.USER, content="list my files"),),
    tools=(
        ToolSpec(
            name="list_dir",
            description="List a directory",
            parameters={"type": "object", "properties": {"path": {"type": "string"}}},
        ),
    ),
    max_tokens=100,
    temperature=0.2,
)


@asynccontextmanager
async def fake_and_provider(
    script: list[Step],
    *,
    suffix: str = "",
    limits: ProviderLimits = LIMITS,
    api_key: str | None = KEY,
) -> AsyncIterator[tuple[FakeLLM, OpenAICompatibleProvider]]:
    async with (
        serve_fake_openai(script) as fake,
        OpenAICompatibleProvider(
            name="groq",
            api_base=fake.base_url + suffix,
            api_key=Secret(api_key) if api_key is not None else None,
            limits=limits,
            rng=random.Random(3),
        ) as llm,
    ):
        yield fake, llm


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        ("https://api.openai.com", "https://api.openai.com/v1/chat/completions"),
        ("https://api.openai.com/", "https://api.openai.com/v1/chat/completions"),
        ("https://openrouter.ai/api", "https://openrouter.ai/api/v1/chat/completions"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/chat/completions"),
        ("http://10.0.0.5:8000/v1/", "http://10.0.0.5:8000/v1/chat/completions"),
        ("https://x.example/v1/chat/completions", "https://x.example/v1/chat/completions"),
    ],
)
def test_chat_completions_url_never_doubles_v1(api_base: str, url: str) -> None:
    assert chat_completions_url(api_base) == url


@pytest.mark.parametrize("suffix", ["", "/v1", "/openai", "/openai/v1/"])
async def test_api_base_is_honoured_with_or_without_v1(suffix: str) -> None:
    async with fake_and_provider([ScriptedReply(text="hello")], suffix=suffix) as (fake, llm):
        response = await llm.complete(REQUEST)
    assert response.text == "hello"
    expected = suffix.rstrip("/").removesuffix("/v1") + "/v1/chat/completions"
    assert [r.path for r in fake.requests] == [expected]


async def test_tool_calls_round_trip_and_request_shape() -> None:
    reply = ScriptedReply(
        tool_calls=(
            ScriptedToolCall(name="list_dir", arguments={"path": "."}, id="call_x"),
            ScriptedToolCall(name="list_dir", arguments={"path": "notes"}, id="call_y"),
        ),
        input_tokens=50,
        output_tokens=7,
    )
    async with fake_and_provider([reply]) as (fake, llm):
        response = await llm.complete(REQUEST)
    assert response.text == ""
    assert response.tool_calls == (
        ToolCall(id="call_x", name="list_dir", arguments={"path": "."}),
        ToolCall(id="call_y", name="list_dir", arguments={"path": "notes"}),
    )
    assert (response.usage.input_tokens, response.usage.output_tokens) == (50, 7)
    assert response.stop_reason == "tool_calls"
    (request,) = fake.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.json()
    assert body["model"] == "gpt-test"
    assert body["max_tokens"] == 100
    assert body["temperature"] == 0.2
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "list my files"},
    ]
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "list_dir",
            "description": "List a directory",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }


async def test_malformed_tool_arguments_become_a_tool_error_not_a_crash() -> None:
    reply = ScriptedReply(
        tool_calls=(
            ScriptedToolCall(name="list_dir", arguments='{"path": ".",', id="call_bad"),
            ScriptedToolCall(name="list_dir", arguments='["."]', id="call_list"),
            ScriptedToolCall(name="list_dir", arguments='{"path": "ok"}', id="call_ok"),
        )
    )
    async with fake_and_provider([reply]) as (_, llm):
        response = await llm.complete(REQUEST)
    bad, listed, good = response.tool_calls
    assert bad.id == "call_bad"
    problem = invalid_arguments(bad)
    assert problem is not None
    assert problem.startswith("Invalid arguments for tool 'list_dir': arguments are not valid JSON")
    assert invalid_arguments(listed) == (
        "Invalid arguments for tool 'list_dir': arguments must be a JSON object, got list"
    )
    assert invalid_arguments(good) is None
    assert good.arguments == {"path": "ok"}


async def test_tool_results_go_back_as_role_tool_messages() -> None:
    history = (
        ChatMessage(role=Role.USER, content="go"),
        ChatMessage(
            role=Role.ASSISTANT,
            content="checking",
            tool_calls=(ToolCall(id="call_1", name="list_dir", arguments={"path": "."}),),
        ),
        ChatMessage(role=Role.TOOL, tool_call_id="call_1", content="no such dir", is_error=True),
    )
    async with fake_and_provider([ScriptedReply(text="sorry")]) as (fake, llm):
        await llm.complete(LLMRequest(model="m", system="", messages=history))
    (body,) = fake.bodies()
    assert body["messages"] == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": "checking",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "list_dir", "arguments": '{"path": "."}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Error: no such dir"},
    ]


async def test_keyless_vllm_sends_no_authorization() -> None:
    async with fake_and_provider([ScriptedReply(text="hi")], api_key=None) as (fake, llm):
        await llm.complete(REQUEST)
    assert "authorization" not in fake.requests[0].headers


async def test_429_with_http_date_retry_after(autojump_clock: trio.abc.Clock) -> None:
    # The wall clock is injected; an HTTP date 12 s after it means a 12 s wait.
    script: list[Step] = [
        ScriptedError(status=429, retry_after="Wed, 21 Oct 2015 07:28:12 GMT"),
        ScriptedReply(text="ok"),
    ]
    async with fake_and_provider(script) as (fake, llm):
        llm.wall_clock = lambda: 1445412480.0  # 2015-10-21 07:28:00 UTC
        start = trio.current_time()
        response = await llm.complete(REQUEST)
        assert trio.current_time() - start == pytest.approx(12, abs=1e-6)
    assert response.text == "ok"
    assert len(fake.requests) == 2


async def test_5xx_exhausts_retries_into_a_safe_provider_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    script: list[Step] = [ScriptedError(status=503, message=f"key {KEY}") for _ in range(4)]
    rng = random.Random(3)
    expected = sum(rng.uniform(0, 2.0**n) for n in range(3))
    async with fake_and_provider(script) as (fake, llm):
        start = trio.current_time()
        with pytest.raises(ProviderError) as raised:
            await llm.complete(REQUEST)
        assert trio.current_time() - start == pytest.approx(expected, abs=1e-6)
    assert len(fake.requests) == 4
    assert str(raised.value) == "groq: HTTP 503 after 4 attempts (request id req_4)"
    assert KEY not in "".join(traceback.format_exception(raised.value))


async def test_401_is_not_retried(autojump_clock: trio.abc.Clock) -> None:
    async with fake_and_provider([ScriptedError(status=401)]) as (fake, llm):
        with pytest.raises(ProviderError, match=r"^groq: HTTP 401 after 1 attempt "):
            await llm.complete(REQUEST)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>gateway</html>", "invalid response: not JSON"),
        (b"[1, 2]", "invalid response: not an object"),
        (b'{"choices": []}', "invalid response: completion has no choices"),
        (
            b'{"choices": [{"message": {"tool_calls": [{"function": {}}]}}]}',
            "invalid response: tool call without a function name",
        ),
    ],
)
async def test_malformed_success_bodies_fail_cleanly_without_retry(
    body: bytes, reason: str
) -> None:
    seen: list[HttpRequest] = []

    async def garbage(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse(status=200, headers={"content-type": "application/json"}, body=body)

    async with serve_http(garbage) as server:
        llm = OpenAICompatibleProvider(
            name="vllm", api_base=server.base_url, api_key=None, limits=LIMITS, rng=random.Random()
        )
        async with llm:
            with pytest.raises(ProviderError) as raised:
                await llm.complete(REQUEST)
    assert str(raised.value) == f"vllm: {reason} after 1 attempt"
    assert len(seen) == 1


@pytest.mark.parametrize(("max_connections", "elapsed"), [(3, 5.0), (1, 15.0)])
async def test_max_connections_bounds_concurrency_across_pools(
    max_connections: int, elapsed: float, autojump_clock: trio.abc.Clock
) -> None:
    limits = ProviderLimits(connect=60, max_connections=max_connections, connections_per_pool=1)
    script: list[Step] = [ScriptedReply(text=str(n), latency=5) for n in range(3)]
    async with fake_and_provider(script, limits=limits) as (fake, llm):
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(llm.complete, REQUEST)
        assert trio.current_time() - start == pytest.approx(elapsed, abs=1e-6)
    assert len(fake.requests) == 3
