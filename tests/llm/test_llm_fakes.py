"""The loopback fakes themselves: script/handler modes, recording, routes, latency, SSE."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_openai import serve_fake_openai
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.llm_script import (
    ScriptedError,
    ScriptedReply,
    ScriptedToolCall,
    ScriptExhausted,
    Step,
)


async def test_handler_mode_sees_each_request_body() -> None:
    def echo(body: Any) -> Step:
        return ScriptedReply(text="echo: " + body["messages"][-1]["content"])

    async with serve_fake_openai(handler=echo) as fake, httpx.AsyncClient() as client:
        for word in ("one", "two"):
            response = await client.post(
                fake.base_url + "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": word}]},
                headers={"x-test": word},
            )
            assert response.json()["choices"][0]["message"]["content"] == f"echo: {word}"
    assert [r.headers["x-test"] for r in fake.requests] == ["one", "two"]
    assert [b["messages"][0]["content"] for b in fake.bodies()] == ["one", "two"]


@pytest.mark.parametrize("serve", [serve_fake_anthropic, serve_fake_openai])
async def test_script_and_handler_together_are_refused(serve: Any) -> None:
    with pytest.raises(ValueError, match="either a script or a handler"):
        async with serve([ScriptedReply()], handler=lambda body: ScriptedReply()):
            pass


@pytest.mark.parametrize(
    ("serve", "path"),
    [(serve_fake_anthropic, "/v1/messages"), (serve_fake_openai, "/v1/chat/completions")],
)
async def test_running_out_of_script_fails_the_block(serve: Any, path: str) -> None:
    with pytest.raises(ScriptExhausted):
        async with serve([]) as fake, httpx.AsyncClient() as client:
            response = await client.post(fake.base_url + path, json={"model": "m"})
            assert response.status_code == 500


@pytest.mark.parametrize("serve", [serve_fake_anthropic, serve_fake_openai])
async def test_unknown_routes_are_404_and_recorded(serve: Any) -> None:
    async with serve([]) as fake, httpx.AsyncClient() as client:
        response = await client.get(fake.base_url + "/v1/models")
    assert response.status_code == 404
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/models")]


async def test_latency_is_virtual_time(autojump_clock: trio.abc.Clock) -> None:
    script: list[Step] = [
        ScriptedReply(text="a", latency=1.0),
        ScriptedError(status=500, latency=2.5),
    ]
    async with serve_fake_openai(script) as fake, httpx.AsyncClient() as client:
        start = trio.current_time()
        first = await client.post(fake.base_url + "/v1/chat/completions", json={})
        assert trio.current_time() - start == pytest.approx(1.0)
        second = await client.post(fake.base_url + "/v1/chat/completions", json={})
        assert trio.current_time() - start == pytest.approx(3.5)
    assert first.status_code == 200
    assert second.status_code == 500
    assert second.json()["error"]["type"] == "server_error"
    assert second.headers["x-request-id"].startswith("req_")


async def test_anthropic_error_shape_and_retry_after_header() -> None:
    async with (
        serve_fake_anthropic([ScriptedError(status=429, retry_after="4")]) as fake,
        httpx.AsyncClient() as client,
    ):
        response = await client.post(fake.base_url + "/v1/messages", json={"model": "m"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "4"
    assert response.headers["request-id"].startswith("req_")
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_anthropic_sse_event_sequence() -> None:
    reply = ScriptedReply(
        text="Hello there, streaming world",
        tool_calls=(ScriptedToolCall(name="exec", arguments={"command": "ls -la"}, id="toolu_x"),),
    )
    async with serve_fake_anthropic([reply]) as fake, httpx.AsyncClient() as client:
        response = await client.post(
            fake.base_url + "/v1/messages", json={"model": "m", "stream": True}
        )
    assert response.headers["content-type"] == "text/event-stream"
    events = [
        line.removeprefix("event: ")
        for line in response.text.splitlines()
        if line.startswith("event:")
    ]
    assert events[:3] == ["message_start", "ping", "content_block_start"]
    assert events[-2:] == ["message_delta", "message_stop"]
    assert events.count("content_block_start") == events.count("content_block_stop") == 2
    assert events.count("content_block_delta") >= 4  # text and tool JSON come in pieces
    assert '"type": "input_json_delta"' in response.text
    assert '"type": "text_delta"' in response.text


async def test_serve_http_serves_bodies_and_hands_back_block_errors() -> None:
    sizes: list[int] = []

    async def handler(request: HttpRequest) -> HttpResponse:
        sizes.append(len(request.body))
        return HttpResponse.json(200, {"path": request.path})

    with pytest.raises(KeyError):  # not wrapped in an ExceptionGroup
        async with serve_http(handler) as server, httpx.AsyncClient() as client:
            for n in range(3):
                response = await client.post(f"{server.base_url}/{n}", content=b"x" * 100_000)
                assert response.json() == {"path": f"/{n}"}
            raise KeyError("from the block")
    assert sizes == [100_000] * 3


async def test_a_failing_handler_answers_500_and_raises_at_exit() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        raise RuntimeError("fake bug")

    with pytest.raises(RuntimeError, match="fake bug"):
        async with serve_http(handler) as server, httpx.AsyncClient() as client:
            response = await client.get(server.base_url)
            assert response.status_code == 500
