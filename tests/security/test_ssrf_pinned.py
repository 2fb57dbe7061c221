"""The pinned connection: the dial goes to the validated address, resolved exactly once."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from pathlib import Path

import attrs
import httpcore
import pytest

from autobot.config.schema import WebConfig
from autobot.security.net_pinned import PinnedNetworkBackend
from autobot.security.ssrf import Allowlist
from autobot.security.ssrf_resolve import PinnedTarget, guard_url
from autobot.testing.fake_web import FakeResolver
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext
from autobot.tools.web_fetch import WebFetchTool

HELLO = [
    b"HTTP/1.1 200 OK\r\n",
    b"Content-Type: text/plain\r\n",
    b"Content-Length: 5\r\n\r\n",
    b"hello",
]


@attrs.define
class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records every dial; `refuse` addresses fail like a closed port."""

    dials: list[tuple[str, int]] = attrs.field(factory=list)
    refuse: frozenset[str] = frozenset()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dials.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError("connection refused")
        return httpcore.AsyncMockStream(list(HELLO))

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("not used")


def _ctx() -> tuple[ToolContext, typing.Any]:
    logger, records = capture_logger()
    ctx = ToolContext(
        session_key="test:1",
        channel="test",
        chat_id="1",
        workspace=Path("/nonexistent"),
        logger=logger,
    )
    return ctx, records


async def test_rebinding_answer_is_never_used() -> None:
    # First answer public, every later one loopback: a second lookup would be fatal.
    resolver = FakeResolver({"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    backend = RecordingBackend()
    tool = WebFetchTool(config=WebConfig(), resolver=resolver, network_backend=backend)
    ctx, _records = _ctx()
    result = await tool.run({"url": "http://rebind.test/"}, ctx)
    assert not result.is_error, result.text
    assert "hello" in result.text
    assert resolver.calls == ["rebind.test"]
    assert backend.dials == [("93.184.216.34", 80)]


async def test_public_then_private_answer_is_refused_before_any_dial() -> None:
    resolver = FakeResolver({"split.test": [["93.184.216.34", "10.0.0.1"]]})
    backend = RecordingBackend()
    tool = WebFetchTool(config=WebConfig(), resolver=resolver, network_backend=backend)
    ctx, records = _ctx()
    result = await tool.run({"url": "http://split.test/"}, ctx)
    assert result.is_error
    assert result.text.startswith("URL validation failed: SSRF protection: ")
    assert "10.0.0.1" in result.text
    assert backend.dials == []
    [record] = drain(records)
    assert record.message.startswith("ACCESS DENIED: URL validation failed")


async def test_next_validated_address_is_tried_when_one_refuses() -> None:
    resolver = FakeResolver({"multi.test": [["93.184.216.34", "93.184.216.35"]]})
    backend = RecordingBackend(refuse=frozenset({"93.184.216.34"}))
    tool = WebFetchTool(config=WebConfig(), resolver=resolver, network_backend=backend)
    ctx, _records = _ctx()
    result = await tool.run({"url": "http://multi.test:8080/"}, ctx)
    assert not result.is_error, result.text
    assert backend.dials == [("93.184.216.34", 8080), ("93.184.216.35", 8080)]


async def _target(url: str) -> PinnedTarget:
    target = await guard_url(url, Allowlist(), FakeResolver({"a.test": [["93.184.216.34"]]}))
    assert isinstance(target, PinnedTarget)
    return target


async def test_backend_refuses_any_other_destination() -> None:
    backend = RecordingBackend()
    pinned = PinnedNetworkBackend(target=await _target("http://a.test/"), inner=backend)
    for host, port in (("b.test", 80), ("a.test", 81), ("127.0.0.1", 80), ("93.184.216.34", 80)):
        with pytest.raises(httpcore.ConnectError, match="pinned connection refuses"):
            await pinned.connect_tcp(host, port)
    with pytest.raises(httpcore.ConnectError, match="Unix sockets"):
        await pinned.connect_unix_socket("/run/docker.sock")
    assert backend.dials == []
    await pinned.connect_tcp("a.test", 80)
    assert backend.dials == [("93.184.216.34", 80)]


async def test_backend_with_no_address_refuses_rather_than_asserting() -> None:
    target = await _target("http://a.test/")
    empty = PinnedTarget(url=target.url, addresses=())
    backend = RecordingBackend()
    pinned = PinnedNetworkBackend(target=empty, inner=backend)
    with pytest.raises(httpcore.ConnectError, match=r"no validated address to dial for a\.test"):
        await pinned.connect_tcp("a.test", 80)
    assert backend.dials == []
