"""AnthropicProvider: the real `anthropic` SDK against the loopback Messages API fake."""

from __future__ import annotations

import random
import traceback

import pytest
import sniffio
import trio

from autobot.config.secret import Secret
from autobot.llm.anthropic_provider import AnthropicProvider
from autobot.llm.limits import ProviderLimits
from autobot.llm.types import ChatMessage, LLMRequest, ProviderError, Role, ToolCall, ToolSpec
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedError, ScriptedReply, ScriptedToolCall, Step
from autobot.testing.logs import capture_logger, drain

KEY = "sk-ant-api03-SECRETVALUE-do-not-leak"
LIMITS = ProviderLimits(connect=5, read=30, max_retries=3, backoff_base=1, backoff_cap=8)
REQUEST = LLMRequest(
    model="claude-test",
    system="You are terse.",
    messages=(ChatMessage(role=Role.USER, content="weather in Paris?"),),
    tools=(
        ToolSpec(
            name="web_search",
            description="Search the web",
            parameters={"type": "object", "properties": {"query": {"type": "string"}}},
        ),
    ),
    max_tokens=256,
    temperature=0.0,
)


def provider(
    base_url: str, *, stream: bool = True, seed: int = 7, **kwargs: object
) -> AnthropicProvider:
    return AnthropicProvider(
        api_key=Secret(KEY),
        api_base=base_url,
        limits=kwargs.pop("limits", LIMITS),  # type: ignore[arg-type]
        rng=random.Random(seed),
        stream=stream,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_text_and_tool_use_round_trip_through_the_sdk(stream: bool) -> None:
    reply = ScriptedReply(
        text="Let me look that up, with a long enough sentence to need several deltas.",
        tool_calls=(
            ScriptedToolCall(name="web_search", arguments={"query": "Paris weather", "count": 3}),
            ScriptedToolCall(name="web_search", arguments={"query": "Paris forecast"}),
        ),
        input_tokens=123,
        output_tokens=45,
    )
    async with (
        serve_fake_anthropic([reply]) as fake,
        provider(fake.base_url, stream=stream) as llm,
    ):
        response = await llm.complete(REQUEST)

    assert response.text == reply.text
    assert [(c.name, dict(c.arguments)) for c in response.tool_calls] == [
        ("web_search", {"query": "Paris weather", "count": 3}),
        ("web_search", {"query": "Paris forecast"}),
    ]
    assert len({c.id for c in response.tool_calls}) == 2
    assert response.usage.input_tokens == 123
    assert response.usage.output_tokens == 45
    assert response.stop_reason == "tool_use"
    (sent,) = fake.bodies()
    assert sent["model"] == "claude-test"
    assert sent["system"] == "You are terse."
    assert sent["max_tokens"] == 256
    assert sent["tools"][0]["input_schema"]["properties"] == {"query": {"type": "string"}}
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]}
    ]
    assert bool(sent.get("stream")) is stream


async def test_history_with_tool_results_reaches_the_api_grouped() -> None:
    history = (
        ChatMessage(role=Role.USER, content="two searches"),
        ChatMessage(
            role=Role.ASSISTANT,
            tool_calls=(
                ToolCall(id="toolu_a", name="web_search", arguments={"query": "a"}),
                ToolCall(id="toolu_b", name="web_search", arguments={"query": "b"}),
            ),
        ),
        ChatMessage(role=Role.TOOL, tool_call_id="toolu_a", content="result a"),
        ChatMessage(role=Role.TOOL, tool_call_id="toolu_b", content="boom", is_error=True),
    )
    async with (
        serve_fake_anthropic([ScriptedReply(text="done")]) as fake,
        provider(fake.base_url) as llm,
    ):
        response = await llm.complete(LLMRequest(model="m", system="", messages=history))
    assert response.text == "done"
    assert response.stop_reason == "end_turn"
    (sent,) = fake.bodies()
    assert "system" not in sent
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "result a"},
        {"type": "tool_result", "tool_use_id": "toolu_b", "content": "boom", "is_error": True},
    ]


async def test_sdk_runs_on_trio_and_sends_the_key_only_in_auth_header() -> None:
    async with (
        serve_fake_anthropic([ScriptedReply(text="ok")]) as fake,
        provider(fake.base_url) as llm,
    ):
        assert sniffio.current_async_library() == "trio"
        await llm.complete(REQUEST)
    (request,) = fake.requests
    assert request.headers["x-stainless-async"] == "async:trio"
    assert request.headers["x-stainless-retry-count"] == "0"
    auth = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    assert KEY in auth
    assert KEY not in request.body.decode()


async def test_api_base_with_a_path_prefix_is_honoured() -> None:
    async with (
        serve_fake_anthropic([ScriptedReply(text="via gateway")]) as fake,
        provider(fake.base_url + "/gateway/anthropic") as llm,
    ):
        response = await llm.complete(REQUEST)
    assert response.text == "via gateway"
    assert [r.path for r in fake.requests] == ["/gateway/anthropic/v1/messages"]


@pytest.mark.parametrize("stream", [False, True])
async def test_429_retry_after_is_honoured_exactly(
    stream: bool, autojump_clock: trio.abc.Clock
) -> None:
    script: list[Step] = [
        ScriptedError(status=429, retry_after="7"),
        ScriptedError(status=429, retry_after="2.5"),
        ScriptedReply(text="finally"),
    ]
    logger, records = capture_logger()
    async with (
        serve_fake_anthropic(script) as fake,
        provider(fake.base_url, stream=stream, logger=logger) as llm,
    ):
        start = trio.current_time()
        response = await llm.complete(REQUEST)
        elapsed = trio.current_time() - start
    assert response.text == "finally"
    assert elapsed == pytest.approx(9.5, abs=1e-6)
    assert len(fake.requests) == 3
    warnings = [r.message for r in drain(records)]
    assert warnings == [
        "anthropic: HTTP 429 rate_limit_error, retry 1/3 in 7.000s",
        "anthropic: HTTP 429 rate_limit_error, retry 2/3 in 2.500s",
    ]


async def test_retry_after_is_capped(autojump_clock: trio.abc.Clock) -> None:
    limits = ProviderLimits(max_retries=1, retry_after_cap=20)
    script: list[Step] = [ScriptedError(status=429, retry_after="3600"), ScriptedReply(text="ok")]
    async with (
        serve_fake_anthropic(script) as fake,
        provider(fake.base_url, limits=limits) as llm,
    ):
        start = trio.current_time()
        await llm.complete(REQUEST)
        assert trio.current_time() - start == pytest.approx(20, abs=1e-6)


@pytest.mark.parametrize("stream", [False, True])
async def test_529_overloaded_is_retried_with_jittered_backoff(
    stream: bool, autojump_clock: trio.abc.Clock
) -> None:
    script: list[Step] = [
        ScriptedError(status=529),
        ScriptedError(status=500),
        ScriptedReply(text="up again"),
    ]
    expected_rng = random.Random(7)
    expected = expected_rng.uniform(0, 1) + expected_rng.uniform(0, 2)
    async with (
        serve_fake_anthropic(script) as fake,
        provider(fake.base_url, stream=stream) as llm,
    ):
        start = trio.current_time()
        response = await llm.complete(REQUEST)
        elapsed = trio.current_time() - start
    assert response.text == "up again"
    assert elapsed == pytest.approx(expected, abs=1e-6)
    assert len(fake.requests) == 3


async def test_overloaded_error_event_mid_stream_is_retried(autojump_clock: trio.abc.Clock) -> None:
    script: list[Step] = [ScriptedError(status=529, mid_stream=True), ScriptedReply(text="ok")]
    async with (
        serve_fake_anthropic(script) as fake,
        provider(fake.base_url) as llm,
    ):
        response = await llm.complete(REQUEST)
    assert response.text == "ok"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_not_retried(status: int, autojump_clock: trio.abc.Clock) -> None:
    async with (
        serve_fake_anthropic([ScriptedError(status=status, message=f"bad {KEY}")]) as fake,
        provider(fake.base_url) as llm,
    ):
        start = trio.current_time()
        with pytest.raises(ProviderError) as raised:
            await llm.complete(REQUEST)
        assert trio.current_time() == start
    assert len(fake.requests) == 1
    assert str(raised.value).startswith(f"anthropic: HTTP {status} ")
    assert "after 1 attempt (request id req_" in str(raised.value)
    assert KEY not in str(raised.value)


async def test_exhausted_retries_raise_a_log_safe_provider_error(
    autojump_clock: trio.abc.Clock,
) -> None:
    script: list[Step] = [ScriptedError(status=529, message=f"echo {KEY}") for _ in range(4)]
    async with (
        serve_fake_anthropic(script) as fake,
        provider(fake.base_url) as llm,
    ):
        with pytest.raises(ProviderError) as raised:
            await llm.complete(REQUEST)
    assert len(fake.requests) == 4
    error = raised.value
    assert str(error) == "anthropic: HTTP 529 overloaded_error after 4 attempts (request id req_4)"
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None
    assert KEY not in "".join(traceback.format_exception(error))


async def test_a_slow_answer_within_the_read_timeout_succeeds(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with (
        serve_fake_anthropic([ScriptedReply(text="took a while", latency=29)]) as fake,
        provider(fake.base_url) as llm,
    ):
        start = trio.current_time()
        response = await llm.complete(REQUEST)
        assert trio.current_time() - start == pytest.approx(29, abs=1e-6)
    assert response.text == "took a while"


async def test_connection_refused_is_retried_then_reported(autojump_clock: trio.abc.Clock) -> None:
    async with serve_fake_anthropic() as fake:
        base_url = fake.base_url
    limits = ProviderLimits(max_retries=2)
    async with provider(base_url, limits=limits) as llm:
        with pytest.raises(ProviderError, match=r"^anthropic: connection failed after 3 attempts$"):
            await llm.complete(REQUEST)
