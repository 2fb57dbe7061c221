"""Rendering bodies: bounded work (caps, web encodings, deep JSON) and where it runs.

The tool tests use an in-memory network backend (no sockets): rendering goes
through the tool's own thread limiter, inside the total timeout.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from pathlib import Path

import attrs
import httpcore
import trio
import trio.testing

from autobot.config.schema import WebConfig
from autobot.logs.records import Level
from autobot.testing.fake_web import FakeResolver
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.web_content import (
    HTML_CUT,
    JSON_TOO_DEEP,
    MAX_HTML_CHARS,
    MAX_RENDERED_CHARS,
    RENDERING_CUT,
    RenderedBody,
    render_body,
)
from autobot.tools.web_fetch import WebFetchTool
from autobot.tools.web_fetch_client import FetchLimits

BASE = "https://base.test/"


def test_deeply_nested_json_is_shown_as_received() -> None:
    body = b"[" * 50_000
    assert render_body(body, "application/json", BASE) == RenderedBody(
        "[" * 50_000, (JSON_TOO_DEEP,)
    )


def test_pretty_json_stops_at_the_rendering_cap() -> None:
    # 300 levels of indentation on each of 100k lines would be 60 MB of spaces.
    body = ("[" * 300 + ",".join(["1"] * 100_000) + "]" * 300).encode()
    rendered = render_body(body, "application/json", BASE)
    assert len(rendered.text) == MAX_RENDERED_CHARS
    assert rendered.text.startswith("[\n  [\n    [")
    assert rendered.notes == (RENDERING_CUT,)


def test_html_past_the_converter_cap_is_not_converted() -> None:
    body = b"x" * MAX_HTML_CHARS + b"<p>tail"
    rendered = render_body(body, "text/html", BASE)
    assert "tail" not in rendered.text
    assert rendered.notes == (HTML_CUT, RENDERING_CUT)


def test_only_web_encodings_are_honoured() -> None:
    # punycode decodes in quadratic time; idna and undefined raise UnicodeError.
    for charset in ("punycode", "idna", "undefined", "unicode_escape", "rot13", "base64"):
        rendered = render_body(b"caf\xc3\xa9-\\x41", f"text/plain; charset={charset}", BASE)
        assert rendered.text == "caf\u00e9-\\x41", charset
    for charset, body in (
        ("windows-1252", b"\x80"),
        ("koi8-r", b"\xc1"),
        ("shift_jis", b"\x82\xa0"),
    ):
        text = render_body(body, f"text/plain; charset={charset}", BASE).text
        assert text == body.decode(charset), charset


@attrs.define
class CannedBackend(httpcore.AsyncNetworkBackend):
    """Every connection answers `response` (a full HTTP/1.1 response)."""

    response: bytes

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        await trio.lowlevel.checkpoint()
        return httpcore.AsyncMockStream([self.response])

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


def canned(content_type: str, body: bytes) -> CannedBackend:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return CannedBackend(head.encode("ascii") + body)


def tool(backend: CannedBackend, limiter: trio.CapacityLimiter | None) -> WebFetchTool:
    return WebFetchTool(
        config=WebConfig(),
        resolver=FakeResolver({"page.test": [["93.184.216.34"]]}),
        network_backend=backend,
        limits=FetchLimits(total_timeout=30),
        render_limiter=limiter,
    )


def context() -> tuple[ToolContext, trio.MemoryReceiveChannel[typing.Any]]:
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="test:1", channel="test", chat_id="1", workspace=Path("/x"), logger=logger
    )
    return ctx, records


async def test_rendering_runs_in_a_thread_under_the_tools_limiter() -> None:
    limiter = trio.CapacityLimiter(1)
    web = tool(canned("text/html", b"<h1>Hi</h1>"), limiter)
    ctx, _records = context()
    results: list[ToolResult] = []

    async def fetch() -> None:
        results.append(await web.run({"url": "http://page.test/"}, ctx))

    async with trio.open_nursery() as nursery:
        await limiter.acquire()  # the test holds the only render slot
        nursery.start_soon(fetch)
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 1
        assert results == []
        limiter.release()
    [result] = results
    assert not result.is_error, result.text
    assert "# Hi" in result.text


async def test_rendering_is_inside_the_total_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = trio.CapacityLimiter(1)
    await limiter.acquire()  # rendering can never start
    web = tool(canned("text/html", b"<p>never shown</p>"), limiter)
    ctx, records = context()
    result = await web.run({"url": "http://page.test/"}, ctx)
    assert trio.current_time() == 30
    assert result.text == "web_fetch failed: timed out after 30 s in total"
    [record] = drain(records)
    assert (record.level, record.message) == (Level.WARN, result.text)


async def test_hostile_and_deep_bodies_through_the_tool() -> None:
    ctx, records = context()
    hostile = await tool(canned("text/html", b"<html>" + b"<a " * 100_000), None).run(
        {"url": "http://page.test/"}, ctx
    )
    assert not hostile.is_error, hostile.text
    deep = await tool(canned("application/json", b"[" * 50_000), None).run(
        {"url": "http://page.test/", "max_chars": 100}, ctx
    )
    assert not deep.is_error, deep.text
    assert "[" * 100 + "\n<<<END_EXTERNAL_UNTRUSTED_CONTENT>>>" in deep.text
    assert "[truncated: showing the first 100 of 50000 chars]" in deep.text
    assert deep.text.endswith(JSON_TOO_DEEP)
    assert drain(records) == []
