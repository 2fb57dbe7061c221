"""web_fetch timeouts on virtual time: an in-memory network backend, exact deadlines."""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable
from pathlib import Path

import attrs
import httpcore
import trio

from autobot.config.schema import WebConfig
from autobot.security.ssrf_resolve import SystemResolver
from autobot.testing.fake_web import FakeResolver
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.web_fetch import WebFetchTool
from autobot.tools.web_fetch_client import FetchLimits

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"


@attrs.define
class SlowStream(httpcore.AsyncNetworkStream):
    """Answers `chunks` in order, each after `delay` virtual seconds, then EOF."""

    chunks: list[bytes]
    delay: float

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
            await trio.sleep(self.delay)
        if scope.cancelled_caught:
            raise httpcore.ReadTimeout("read timed out")
        return self.chunks.pop(0) if self.chunks else b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


@attrs.define
class SlowBackend(httpcore.AsyncNetworkBackend):
    """Connects after `connect_delay` virtual seconds to a `SlowStream`."""

    chunks: list[bytes]
    delay: float
    connect_delay: float = 0.0

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
            await trio.sleep(self.connect_delay)
        if scope.cancelled_caught:
            raise httpcore.ConnectTimeout("connect timed out")
        return SlowStream(list(self.chunks), self.delay)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


async def fetch(backend: SlowBackend, limits: FetchLimits) -> ToolResult:
    tool = WebFetchTool(
        config=WebConfig(),
        resolver=FakeResolver({"slow.test": [["93.184.216.34"]]}),
        network_backend=backend,
        limits=limits,
        render_limiter=None,  # on the trio thread: the autojump clock cannot see threads
    )
    logger, _records = capture_logger()
    ctx = ToolContext(
        session_key="test:1", channel="test", chat_id="1", workspace=Path("/x"), logger=logger
    )
    return await tool.run({"url": "http://slow.test/"}, ctx)


async def test_read_timeout_fires_at_its_deadline(autojump_clock: trio.testing.MockClock) -> None:
    backend = SlowBackend(chunks=[HEAD], delay=math.inf)
    result = await fetch(backend, FetchLimits(read_timeout=7, total_timeout=60))
    assert trio.current_time() == 7
    assert result.text == "web_fetch failed: reading from http://slow.test/ timed out after 7 s"


async def test_connect_timeout_fires_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    backend = SlowBackend(chunks=[HEAD], delay=0, connect_delay=math.inf)
    result = await fetch(backend, FetchLimits(connect_timeout=3, total_timeout=60))
    assert trio.current_time() == 3
    assert result.text == "web_fetch failed: connecting to http://slow.test/ timed out after 3 s"


async def test_total_timeout_bounds_a_trickle(autojump_clock: trio.testing.MockClock) -> None:
    # Every read arrives within the 5 s read timeout, but 100 of them take 400 s.
    backend = SlowBackend(chunks=[HEAD] + [b"x"] * 100, delay=4)
    result = await fetch(backend, FetchLimits(read_timeout=5, total_timeout=30))
    assert trio.current_time() == 30
    assert result.text == "web_fetch failed: timed out after 30 s in total"


async def test_a_slow_but_timely_page_arrives(autojump_clock: trio.testing.MockClock) -> None:
    backend = SlowBackend(chunks=[HEAD, b"y" * 100], delay=4)
    result = await fetch(backend, FetchLimits(read_timeout=5, total_timeout=30))
    assert not result.is_error, result.text
    assert "y" * 100 in result.text
    assert trio.current_time() == 8


async def test_the_system_resolver_feeds_the_guard() -> None:
    # localhost comes from /etc/hosts: no network needed, and it must be refused.
    answers = await SystemResolver().resolve("localhost", 80)
    assert answers
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="test:1", channel="test", chat_id="1", workspace=Path("/x"), logger=logger
    )
    result = await WebFetchTool(config=WebConfig()).run({"url": "http://localhost/"}, ctx)
    assert result.is_error
    assert "access to localhost is blocked" in result.text
    assert [r.message for r in drain(records)] == [f"ACCESS DENIED: {result.text}"]
