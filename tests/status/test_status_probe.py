"""Asking the gateway: the real HTTP actor answers, on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable

import pytest
import trio

from autobot.channels.health import ChannelSnapshot
from autobot.gateway.metrics import channel_metrics
from autobot.http.actor import HttpActor
from autobot.http.metrics import Metric, Sample
from autobot.status.probe import (
    MAX_HEALTH_BYTES,
    PROBE_SECONDS,
    ask_gateway,
    gateway_url,
    parse_samples,
)
from autobot.status.probe import (
    Sample as ParsedSample,
)
from autobot.testing.logs import capture_logger


def snapshot(name: str, up: bool) -> ChannelSnapshot:
    return ChannelSnapshot(
        name=name, up=up, since=0.0, reason="", stopped=False, messages_in=3,
        messages_out=2, denied=0, reconnects=1, send_failures=0, journal_backlog=0,
    )  # fmt: skip


def _metrics() -> list[Metric]:
    active = Metric(
        name="autobot_sessions_active", help="Active.", kind="gauge", samples=(Sample(value=2),)
    )
    return [*channel_metrics([snapshot("telegram", True), snapshot("slack", False)]), active]


async def serve(
    nursery: trio.Nursery, health: Callable[[], list[str]] = list
) -> tuple[HttpActor, int]:
    logger, _ = capture_logger()
    urls: list[str] = []
    actor = HttpActor(
        host="127.0.0.1",
        port=0,
        metrics=_metrics,
        health=health,
        logger=logger,
        on_listening=urls.append,
    )
    await nursery.start(actor.run)
    return actor, int(urls[0].rsplit(":", 1)[1])


async def test_a_healthy_gateway_answers_health_and_metrics() -> None:
    async with trio.open_nursery() as nursery:
        actor, port = await serve(nursery)
        answer = await ask_gateway("127.0.0.1", port)
        actor.stopping.set()
    assert (answer.url, answer.running, answer.healthy, answer.problems, answer.detail) == (
        f"http://127.0.0.1:{port}", True, True, (), ""
    )  # fmt: skip
    assert answer.samples["autobot_channel_up"] == (
        ParsedSample(labels={"channel": "telegram"}, value=1.0),
        ParsedSample(labels={"channel": "slack"}, value=0.0),
    )
    assert answer.samples["autobot_sessions_active"] == (ParsedSample(labels={}, value=2.0),)


async def test_an_unhealthy_gateway_says_what_is_wrong() -> None:
    problems = ["channel slack: down for 200 s (connection refused)"]
    async with trio.open_nursery() as nursery:
        actor, port = await serve(nursery, health=lambda: problems)
        answer = await ask_gateway("0.0.0.0", port)  # bound everywhere: asked on loopback
        actor.stopping.set()
    assert (answer.running, answer.healthy, answer.problems) == (True, False, tuple(problems))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_nothing_listening_is_a_gateway_that_does_not_run() -> None:
    answer = await ask_gateway("127.0.0.1", _closed_port())
    assert (answer.running, answer.detail) == (False, "nothing listens there")


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    held: list[trio.SocketStream] = []

    async def accept_forever() -> None:
        while True:
            held.append(await listeners[0].accept())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept_forever)
        yield int(listeners[0].socket.getsockname()[1])
        nursery.cancel_scope.cancel(reason="test over")


async def test_a_gateway_that_never_answers_is_given_up_on_time(
    silent_port: int, autojump_clock: trio.testing.MockClock
) -> None:
    start = trio.current_time()
    answer = await ask_gateway("127.0.0.1", silent_port)
    assert trio.current_time() - start == PROBE_SECONDS
    assert (answer.running, answer.detail) == (False, "no answer within 2 s")


async def test_an_endless_health_answer_is_cut_at_the_cap() -> None:
    async with trio.open_nursery() as nursery:
        actor, port = await serve(nursery, health=lambda: ["x" * MAX_HEALTH_BYTES])
        answer = await ask_gateway("127.0.0.1", port)
        actor.stopping.set()
    assert (answer.running, answer.detail) == (
        False,
        f"response is larger than {MAX_HEALTH_BYTES} bytes",
    )


async def test_proxy_settings_in_the_environment_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with trio.open_nursery() as nursery:
        actor, port = await serve(nursery)
        answer = await ask_gateway("127.0.0.1", port)
        actor.stopping.set()
    assert answer.healthy


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:18790"),
        ("0.0.0.0", "http://127.0.0.1:18790"),
        ("::", "http://[::1]:18790"),
        ("::1", "http://[::1]:18790"),
        ("localhost", "http://localhost:18790"),
    ],
)
def test_the_url_that_reaches_the_gateway(host: str, url: str) -> None:
    assert gateway_url(host, 18790) == url


def test_prometheus_text_is_read_sample_by_sample() -> None:
    text = (
        "# HELP autobot_channel_up 1 while the channel is connected.\n"
        "# TYPE autobot_channel_up gauge\n"
        'autobot_channel_up{channel="telegram"} 1\n'
        'autobot_odd{a="x\\"y",b="line\\nnext"} 2.5\n'
        "autobot_sessions_active 3\n"
        "not a sample at all\n"
        "autobot_bad NaNx\n"
        "autobot_inf +Inf\n"
    )
    samples = parse_samples(text)
    assert samples == {
        "autobot_channel_up": (ParsedSample(labels={"channel": "telegram"}, value=1.0),),
        "autobot_odd": (ParsedSample(labels={"a": 'x"y', "b": "line\nnext"}, value=2.5),),
        "autobot_sessions_active": (ParsedSample(labels={}, value=3.0),),
        "autobot_inf": (ParsedSample(labels={}, value=float("inf")),),
    }
