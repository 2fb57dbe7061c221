"""The Slack channel's socket trouble, at exact virtual times.

The real channel (launcher, Web API client, journal, sockets, actor, under
the channel supervisor) talks to the loopback Slack fake; the router side is
a memory channel (`autobot.testing.slack_channel`). Failures are the fake's
own: `refresh_requested` / `warning` disconnects with events arriving during
the overlap, a dropped TCP connection, a silent (stalled) connection, failed
and rate-limited `apps.connections.open`, `link_disabled`, refused tokens,
unacknowledged envelopes redelivered. The channel's jitter comes from a
seeded `random.Random`: every sleep is asserted to the exact virtual second.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from autobot.channels.base import InboundMessage
from autobot.channels.slack.actor import BACKOFF_BASE, BACKOFF_CAP, MIN_REFRESH_SECONDS
from autobot.channels.slack.socket import (
    PING_SECONDS,
    PONG_SECONDS,
    RETIRE_SECONDS,
)
from autobot.logs.records import Level
from autobot.runtime import backoff_delay
from autobot.testing.fake_slack import RETRY_SECONDS, FakeSlack, serve_fake_slack
from autobot.testing.slack.faults import Fault
from autobot.testing.slack_channel import SlackRun, channel_config, run_slack_channel
from autobot.testing.telegram_channel import patient_clock

SEED = 20260301


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def running(tmp_path: Path, fake: FakeSlack, **settings: object) -> AsyncIterator[SlackRun]:
    config = channel_config(fake, allow_from=("U1001",), **settings)
    async with run_slack_channel(config, fake, bot_dir=tmp_path, rng=random.Random(SEED)) as run:
        yield run


def opens(fake: FakeSlack) -> list[float]:
    return [call.at for call in fake.calls_to("apps.connections.open")]


async def answer_all(run: SlackRun, count: int) -> list[InboundMessage]:
    """Receive `count` routed messages and answer each (so its entry is done)."""
    received = []
    for _ in range(count):
        message = await run.routed.receive()
        received.append(message)
        await run.reply(message, f"re: {message.content}")
    return received


async def test_refresh_requested_opens_the_next_socket_before_the_old_one_closes(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        async with running(tmp_path, fake) as run:
            await run.connected(1)
            await trio.sleep(MIN_REFRESH_SECONDS)  # a refresh this soon would wait for it
            for n in range(3):
                fake.post_dm(alice, f"before {n}")
            await run.settled()
            await fake.disconnect("refresh_requested", close_after=10.0)
            asked_at = trio.current_time()
            for n in range(3):  # sent on the old socket while the new one opens
                fake.post_dm(alice, f"during {n}")
            await run.connected(2)
            for n in range(3):
                fake.post_dm(alice, f"after {n}")
            received = await answer_all(run, 9)
            await run.settled()
            await fake.until(lambda: not fake.connections[0].open)
            old, new = fake.connections
            assert opens(fake)[1] == asked_at  # at once: the old socket lived > 30 s
            assert new.opened_at == asked_at and new.open_at_hello == 2  # the old one still open
            assert old.closed_at == asked_at + 10.0  # read until Slack closed it
            texts = [m.content for m in received]
            assert sorted(texts) == sorted(
                [f"{when} {n}" for when in ("before", "during", "after") for n in range(3)]
            )
            on_old = {d.event_id for d in fake.deliveries if d.connection == 1 and d.at == asked_at}
            assert on_old  # the overlap carried events on the old socket
            assert fake.lost == [] and fake.pending == []
            assert all(d.retry_attempt == 0 for d in fake.deliveries)  # nothing redelivered
            answered = [m.text for m in fake.messages_in(alice.dm)]
            assert sorted(answered) == sorted(f"re: {t}" for t in texts)
            assert run.health.up and run.health.reconnects == 0
            assert run.logged(Level.INFO, "slack socket refreshed")


async def test_a_replaced_socket_slack_does_not_close_is_closed_after_its_retirement(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake, running(tmp_path, fake) as run:
        await run.connected(1)
        await trio.sleep(MIN_REFRESH_SECONDS)
        await fake.disconnect("refresh_requested", close_after=3600.0)
        asked_at = trio.current_time()
        await fake.until(lambda: not fake.connections[0].open)
        assert fake.connections[0].closed_at == asked_at + RETIRE_SECONDS
        assert fake.connections[0].close_code == 1000  # the channel's own close
        assert [c.open for c in fake.connections] == [False, True]


async def test_a_warning_soon_after_connecting_waits_for_the_minimum_refresh_interval(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake, running(tmp_path, fake) as run:
        await run.connected(1)
        await trio.sleep(5.0)
        await fake.disconnect("warning", close_after=60.0)
        await run.connected(2)
        assert opens(fake)[1] == fake.connections[0].opened_at + MIN_REFRESH_SECONDS
        await fake.until(lambda: not fake.connections[0].open)
        assert fake.connections[0].close_code == 1000


async def test_a_dropped_socket_reconnects_after_exact_jittered_backoff(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleeps = [backoff_delay(k, BACKOFF_BASE, BACKOFF_CAP, rng) for k in range(3)]
    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        async with running(tmp_path, fake) as run:
            drops = []
            for count in (1, 2, 3):
                await run.connected(count)
                await trio.sleep(1.0)
                drops.append(trio.current_time())
                await fake.drop()
                await fake.until(lambda: not fake.open_connections())
                await trio.lowlevel.checkpoint()
            await run.connected(4)
            await run.up()
            # a drop of a socket younger than STABLE_SECONDS keeps the backoff growing
            assert opens(fake)[1:] == [at + sleep for at, sleep in zip(drops, sleeps, strict=True)]
            snapshot = run.health.snapshot()
            assert snapshot.up and snapshot.reconnects == 3
            assert [w.message for w in run.logged(Level.WARN, "slack unreachable")] == [
                f"slack unreachable; retrying in {s:.1f} s" for s in sleeps
            ]
            assert "code 1006" in dict(run.logged(Level.WARN, "unreachable")[0].fields)["error"]
            fake.post_dm(alice, "still there?")
            [message] = await answer_all(run, 1)
            assert message.content == "still there?"
            assert run.supervisor.statistics().total_restarts == 0


async def test_down_while_disconnected_is_visible_in_health(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        fake.fail_next("apps.connections.open", Fault.server_error(503), count=2)
        async with running(tmp_path, fake) as run:
            await fake.wait_for_calls("apps.connections.open", 2)
            snapshot = run.health.snapshot()
            assert not snapshot.up and snapshot.reconnects >= 1
            assert "apps.connections.open: server_error (HTTP 503)" in snapshot.reason
            assert run.problems(grace=0)
            await run.connected(1)
            await run.up()
            assert run.problems(grace=0) == []


async def test_failed_opens_back_off_and_a_rate_limit_waits_its_retry_after(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleeps = [backoff_delay(k, BACKOFF_BASE, BACKOFF_CAP, rng) for k in range(2)]
    async with serve_fake_slack() as fake:
        fake.fail_next("apps.connections.open", Fault.server_error(500))
        fake.fail_next("apps.connections.open", Fault.dropped_connection())
        fake.fail_next("apps.connections.open", Fault.rate_limited(45))
        async with running(tmp_path, fake) as run:
            await run.connected(1)
            first, second, third, fourth = opens(fake)
            assert [second, third] == [first + sleeps[0], second + sleeps[1]]
            assert fourth == third + 45  # tier 1: Retry-After, exactly
            assert run.health.reconnects == 3


async def test_a_silent_socket_is_noticed_by_its_ping_and_replaced(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleep = backoff_delay(0, BACKOFF_BASE, BACKOFF_CAP, rng)
    # Slack keeps retrying the event sent into the dead socket long enough here
    async with serve_fake_slack(max_retries=20) as fake:
        alice = fake.add_user("U1001", "alice")
        async with running(tmp_path, fake) as run:
            await run.connected(1)
            opened = fake.connections[0].opened_at
            await trio.sleep(1.0)
            fake.stall()
            fake.post_dm(alice, "sent into the void")
            await run.connected(2)
            # the first ping gets no pong in time: the socket is given up then
            # (its close handshake goes on alone), and the backoff starts
            dead = opened + PING_SECONDS + PONG_SECONDS
            assert opens(fake)[1] == dead + sleep
            [message] = await answer_all(run, 1)
            assert message.content == "sent into the void"
            [delivery] = [d for d in fake.deliveries if d.connection == 2][:1]
            assert delivery.retry_attempt >= 1  # Slack's redelivery reached the new socket
            warning = run.logged(Level.WARN, "slack unreachable")[0]
            assert "no pong" in dict(warning.fields)["error"]


async def test_an_unacknowledged_envelope_is_redelivered_and_answered_once(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        async with running(tmp_path, fake) as run:
            await run.connected(1)
            fake.ignore_acks = True  # the acks are lost: Slack tries again after 3 s
            fake.post_dm(alice, "only once please")
            await fake.until(lambda: len(fake.deliveries) == 3)
            fake.ignore_acks = False
            await run.settled()
            [message] = await answer_all(run, 1)
            await run.settled()
            tries = [d for d in fake.deliveries if d.event_id == fake.deliveries[0].event_id]
            assert [d.retry_attempt for d in tries] == [0, 1, 2]
            assert [d.at - tries[0].at for d in tries] == [0.0, RETRY_SECONDS, 2 * RETRY_SECONDS]
            assert {a.envelope_id for a in fake.acks} >= {d.envelope_id for d in tries}
            assert message.content == "only once please"
            await trio.sleep(RETRY_SECONDS * 2)
            assert run.routed_so_far() == []
            assert run.health.messages_in == 1
            assert [m.text for m in fake.messages_in(alice.dm)] == ["re: only once please"]


async def test_link_disabled_stops_the_channel_and_says_why(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake, running(tmp_path, fake) as run:
        await run.connected(1)
        await fake.disconnect("link_disabled")
        await fake.until(lambda: not fake.open_connections())
        await run.until_logged(Level.ERROR, "slack channel stopped")
        await trio.sleep(600)
        assert len(opens(fake)) == 1  # never retried
        snapshot = run.health.snapshot()
        assert snapshot.stopped and "link_disabled" in snapshot.reason
        [problem] = run.problems(grace=0)
        assert problem.startswith("slack: stopped: Slack turned Socket Mode off")
        assert run.logged(Level.ERROR, "slack channel stopped")


@pytest.mark.parametrize(
    "error", ["invalid_auth", "not_authed", "account_inactive", "token_revoked"]
)
async def test_a_refused_bot_token_stops_the_channel_without_retrying(
    tmp_path: Path, clock: trio.testing.MockClock, error: str
) -> None:
    async with serve_fake_slack() as fake:
        fake.fail_next("auth.test", Fault.slack_error(error))
        async with running(tmp_path, fake) as run:
            await run.until_logged(Level.ERROR, "slack channel stopped")
            await trio.sleep(600)
            assert len(fake.calls_to("auth.test")) == 1
            assert fake.calls_to("apps.connections.open") == []
            snapshot = run.health.snapshot()
            assert snapshot.stopped and not snapshot.up
            assert snapshot.reason == (
                f"Slack rejected the bot token ({error}): check SLACK_BOT_TOKEN in .env"
            )
            [record] = run.logged(Level.ERROR, "slack channel stopped")
            assert fake.bot_token not in repr(run.records())
            assert record.message.endswith(snapshot.reason)


async def test_a_revoked_app_token_stops_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        fake.revoke_app_token()
        async with running(tmp_path, fake) as run:
            await run.until_logged(Level.ERROR, "slack channel stopped")
            await trio.sleep(600)
            assert len(opens(fake)) == 1
            assert run.health.stopped
            assert "app token (token_revoked)" in run.health.reason


async def test_a_socket_url_off_slack_is_refused_and_stops_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        fake.socket_url_override = "ws://evil.example.com/link/?ticket=x"
        async with running(tmp_path, fake) as run:
            await run.until_logged(Level.ERROR, "slack channel stopped")
            await trio.sleep(600)
            assert len(opens(fake)) == 1
            assert run.health.stopped and "socket_url_refused" in run.health.reason


async def test_replies_after_a_stop_are_dropped_with_a_warning(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        async with running(tmp_path, fake) as run:
            await run.connected(1)
            fake.post_dm(alice, "hello")
            [message] = [await run.routed.receive()]
            fake.revoke_bot_token()
            await run.reply(message, "one")
            await fake.until(lambda: len(fake.calls_to("chat.postMessage")) == 1)
            await run.reply(message, "two")
            await run.until_logged(Level.ERROR, "slack channel stopped")
            await run.until_logged(Level.WARN, "slack reply dropped")
            assert "token_revoked" in run.health.reason
            assert run.logged(Level.WARN, "slack reply dropped")
            assert fake.posted == []
            assert run.health.journal_backlog == 1  # unanswered: replayed once fixed


async def test_who_is_not_ours_is_acknowledged_and_dropped_before_any_work(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        async with running(tmp_path, fake) as run:
            await run.connected(1)
            for event in (
                {"type": "reaction_added", "user": "U1001"},
                {"type": "message", "subtype": "message_changed", "channel": alice.dm},
            ):
                fake.inject_event(event)
            fake.post_dm(alice, "real")
            [message] = await answer_all(run, 1)
            await fake.next_message(alice.dm)
            await run.settled()
            assert message.content == "real"
            assert len(fake.acks) == 4  # two ignored, one real, the echo of the reply
            assert run.health.messages_in == 1
