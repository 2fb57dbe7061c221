"""web_search against a loopback fake of the Brave Search API (real httpx, real sockets)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import trio

from autobot.config.schema import WebSearchConfig
from autobot.config.secret import Secret
from autobot.testing.fake_web import (
    Behaviour,
    FakeRoute,
    FakeWebServer,
    brave_body,
    start_fake_web,
)
from autobot.testing.logs import capture_logger
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.web_content import UNTRUSTED_BEGIN, UNTRUSTED_END
from autobot.tools.web_search import NOT_CONFIGURED, SearchLimits, WebSearchTool

PATH = "/res/v1/web/search"
TOKEN = "brave-test-token-123"
RESULTS = [
    ("Trio <strong>docs</strong>", "https://trio.readthedocs.io/", "Structured <b>concurrency</b>"),
    ("Trio repo", "https://github.com/python-trio/trio", "Source code"),
    ("Third", "https://example.org/3", "Third snippet"),
]


def json_route(body: bytes, status: int = 200) -> FakeRoute:
    return FakeRoute(status=status, headers=(("Content-Type", "application/json"),), body=body)


async def search(
    server: FakeWebServer | None,
    args: dict[str, object],
    *,
    key: str | None = TOKEN,
    limits: SearchLimits | None = None,
    base_url: str | None = None,
) -> ToolResult:
    url = base_url or f"http://127.0.0.1:{server.port if server else 9}{PATH}"
    config = WebSearchConfig(api_key=Secret(key) if key else None, base_url=url)
    tool = WebSearchTool(config=config, limits=limits or SearchLimits())
    logger, _records = capture_logger()
    ctx = ToolContext(
        session_key="test:1", channel="test", chat_id="1", workspace=Path("/x"), logger=logger
    )
    return await tool.run(args, ctx)


async def test_query_count_and_token_arrive_and_results_are_listed(nursery: trio.Nursery) -> None:
    server = await start_fake_web(nursery, {PATH: json_route(brave_body(RESULTS))})
    result = await search(server, {"query": "trio & friends", "count": 2})
    assert not result.is_error, result.text
    [request] = server.requests
    query = parse_qs(urlsplit(request.target).query)
    assert query == {"q": ["trio & friends"], "count": ["2"]}
    assert request.headers["x-subscription-token"] == TOKEN
    assert request.headers["accept"] == "application/json"
    assert (
        "1. Trio docs\n   https://trio.readthedocs.io/\n   Structured concurrency\n\n"
        "2. Trio repo\n   https://github.com/python-trio/trio\n   Source code\n"
    ) in result.text
    assert "Third" not in result.text
    assert (
        result.text.index(UNTRUSTED_BEGIN)
        < result.text.index("1. Trio")
        < result.text.index(UNTRUSTED_END)
    )
    assert TOKEN not in result.text


async def test_count_defaults_to_five(nursery: trio.Nursery) -> None:
    server = await start_fake_web(nursery, {PATH: json_route(brave_body([]))})
    result = await search(server, {"query": "nothing"})
    assert "No results." in result.text
    assert parse_qs(urlsplit(server.requests[0].target).query)["count"] == ["5"]


async def test_missing_key_is_a_clear_error_and_sends_nothing(nursery: trio.Nursery) -> None:
    server = await start_fake_web(nursery, {PATH: json_route(brave_body(RESULTS))})
    result = await search(server, {"query": "x"}, key=None)
    assert result.is_error
    assert (
        result.text
        == NOT_CONFIGURED
        == ("web_search is not configured: set tools.web.search.api_key")
    )
    assert server.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"query": "x", "count": 0}, "'count' must be an integer from 1 to 10"),
        ({"query": "x", "count": 11}, "'count' must be an integer from 1 to 10"),
        ({"query": "x", "count": True}, "'count' must be an integer from 1 to 10"),
        ({"query": "   "}, "'query' must be a non-empty string"),
        ({"query": None}, "'query' must be a non-empty string"),
    ],
)
async def test_bad_arguments(args: dict[str, object], message: str) -> None:
    result = await search(None, args)
    assert result.is_error
    assert message in result.text


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (json_route(b'{"error": "bad token"}', status=401), "search API answered HTTP 401"),
        (json_route(b"oops", status=500), "search API answered HTTP 500"),
        (
            FakeRoute(status=302, headers=(("Location", "http://169.254.169.254/"),)),
            "search API answered HTTP 302",
        ),
        (json_route(b"<html>not json</html>"), "not JSON"),
        (json_route(b"[" * 50_000), "not JSON"),
        (json_route(b'{"web": {"results": 7}}'), "no result list"),
    ],
)
async def test_api_failures_are_clear_errors(
    nursery: trio.Nursery, route: FakeRoute, message: str
) -> None:
    server = await start_fake_web(nursery, {PATH: route})
    result = await search(server, {"query": "x"})
    assert result.is_error
    assert result.text.startswith("web_search failed: ")
    assert message in result.text
    assert len(server.requests) == 1  # redirects are not followed


async def test_oversized_answer_is_refused(nursery: trio.Nursery) -> None:
    server = await start_fake_web(nursery, {PATH: json_route(b" " * 5000 + brave_body(RESULTS))})
    result = await search(server, {"query": "x"}, limits=SearchLimits(max_bytes=1000))
    assert result.is_error
    assert "larger than 1000 bytes" in result.text


async def test_stalled_api_times_out(nursery: trio.Nursery) -> None:
    route = FakeRoute(behaviour=Behaviour.STALL_BEFORE_HEADERS)
    server = await start_fake_web(nursery, {PATH: route})
    result = await search(server, {"query": "x"}, limits=SearchLimits(read_timeout=0.2))
    assert result.is_error
    assert result.text == "web_search failed: the search API timed out"


async def test_unreachable_api(nursery: trio.Nursery) -> None:
    server = await start_fake_web(nursery, {})
    server.stop.cancel()
    await trio.testing.wait_all_tasks_blocked()
    result = await search(server, {"query": "x"})
    assert result.is_error
    assert result.text == "web_search failed: could not reach the search API (ConnectError)"


def test_schema() -> None:
    tool = WebSearchTool(config=WebSearchConfig())
    assert tool.name == "web_search"
    assert tool.parameters["required"] == ["query"]
    count = tool.parameters["properties"]["count"]
    assert (count["type"], count["minimum"], count["maximum"]) == ("integer", 1, 10)
