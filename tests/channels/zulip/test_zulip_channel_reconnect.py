"""The Zulip channel's network trouble, at exact virtual times.

The real channel (launcher, client, journal, queue file, actor, under the
channel supervisor) talks to the loopback Zulip fake; the router side is a
memory channel (`harness`). Failures are the fake's own: 5xx pages,
dropped connections, a stalled poll, 429 with retry-after, a queue that
expires during an outage, refused credentials. The channel's jitter comes
from a seeded `random.Random`: every sleep is asserted to the exact virtual
second it must take.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.base import OutboundMessage
from autobot.channels.zulip.actor import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    CREDENTIALS_REFUSED,
    RETRY_AFTER_CAP,
)
from autobot.logs.records import Level
from autobot.runtime import backoff_delay
from autobot.testing.fake_zulip import (
    HEARTBEAT_SECONDS,
    LONGPOLL_TIMEOUT_SECONDS,
    QUEUE_TIMEOUT_SECONDS,
    FakeZulip,
    serve_fake_zulip,
)
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.zulip.faults import Fault

from .harness import ZulipRun, run_zulip_channel, zulip_config

SEED = 20260101
POLL_MARGIN = 10.0  # ZulipApi's default: a poll is given the long-poll timeout + this
TEN_MINUTES = 600.0
EPOCH = 1_767_225_600.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


def wall_clock() -> float:
    """Wall-clock seconds that advance with virtual time."""
    return EPOCH + trio.current_time()


@asynccontextmanager
async def running(
    tmp_path: Path, *poll_faults: Fault, **settings: object
) -> AsyncIterator[ZulipRun]:
    """The channel with a seeded rng; its first `GET /events` get `poll_faults`."""
    async with serve_fake_zulip() as fake:
        for fault in poll_faults:
            fake.fail_next("events", fault)
        async with run_zulip_channel(
            zulip_config(fake, **settings),  # type: ignore[arg-type]
            fake,
            bot_dir=tmp_path,
            rng=random.Random(SEED),
            wall_clock=wall_clock,
        ) as run:
            yield run


def polls(fake: FakeZulip) -> list[float]:
    return [call.at for call in fake.calls_to("events")]


def schedule(start: float, sleeps: list[float]) -> list[float]:
    return list(itertools.accumulate(sleeps, initial=start))


def no_restarts(run: ZulipRun) -> bool:
    return run.supervisor.statistics().total_restarts == 0


def jitter(count: int) -> list[float]:
    rng = random.Random(SEED)
    return [backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, rng) for attempt in range(count)]


async def test_poll_failures_back_off_with_exact_jittered_sleeps(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    faults = [
        Fault.server_error(502),
        Fault.dropped_connection(),
        Fault.server_error(504),
        Fault.dropped_connection(),
        Fault.error(500, "INTERNAL_SERVER_ERROR", "Internal server error"),
    ]
    sleeps = jitter(5)
    assert all(0 <= s <= BACKOFF_BASE * 2**k for k, s in enumerate(sleeps))
    async with running(tmp_path, *faults) as run:
        first = (await run.zulip.wait_for_calls("events", 3))[0].at
        down = run.health.snapshot()
        assert (down.up, down.since, down.reconnects) == (False, first, 2)
        assert run.health.reason.startswith("Zulip events:")
        await run.zulip.wait_for_calls("events", 7)
        expected = schedule(first, sleeps)
        assert polls(run.zulip) == [*expected, expected[-1] + HEARTBEAT_SECONDS]
        up = run.health.snapshot()  # the first good poll answered a heartbeat
        assert (up.up, up.since, up.reconnects) == (True, expected[-1] + HEARTBEAT_SECONDS, 5)
        warnings = run.logged(Level.WARN, "zulip unreachable")
        assert [w.message for w in warnings] == [
            f"zulip unreachable; retrying in {s:.1f} s" for s in sleeps
        ]
        assert "502" in dict(warnings[0].fields)["error"]
        assert "INTERNAL_SERVER_ERROR" in dict(warnings[4].fields)["error"]
        assert run.zulip.registered == 1  # the queue outlived the outage
        assert no_restarts(run)


async def test_start_up_failures_back_off_until_identity_and_queue_work(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    sleeps = jitter(3)
    async with serve_fake_zulip() as fake:
        fake.fail_next("users/me", Fault.server_error(502), count=2)
        fake.fail_next("register", Fault.dropped_connection())
        async with run_zulip_channel(
            zulip_config(fake), fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            # ready (the supervisor's start returned) only once connected
            me = [call.at for call in fake.calls_to("users/me")]
            registers = [call.at for call in fake.calls_to("register")]
            attempts = schedule(me[0], sleeps)
            assert me == attempts
            assert registers == attempts[2:]
            [poll] = await fake.wait_for_calls("events", 1)
            assert poll.at == attempts[-1]
            assert run.health.reconnects == 3 and run.health.up
            assert no_restarts(run)


async def test_a_stalled_poll_is_abandoned_at_the_clients_bound(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    [sleep] = jitter(1)
    async with running(tmp_path, Fault.stall()) as run:
        await run.zulip.wait_for_calls("events", 2)
        stalled = polls(run.zulip)[0]
        bound = LONGPOLL_TIMEOUT_SECONDS + POLL_MARGIN
        assert polls(run.zulip) == [stalled, stalled + bound + sleep]
        [warning] = run.logged(Level.WARN, "zulip unreachable")
        assert dict(warning.fields)["error"] == f"Zulip events: no answer within {bound:g} s"
        assert no_restarts(run)


async def test_429_on_the_poll_waits_exactly_retry_after_capped(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    faults = (
        Fault.rate_limited(7.5, in_header=False),
        Fault.rate_limited(3, in_body=False),
        Fault.rate_limited(1000),
    )
    async with running(tmp_path, *faults) as run:
        await run.zulip.wait_for_calls("events", 4)
        limited = polls(run.zulip)[0]
        assert polls(run.zulip) == [limited, limited + 7.5, limited + 10.5, limited + 10.5 + 300]
        assert RETRY_AFTER_CAP == 300
        assert [w.message for w in run.logged(Level.WARN, "rate limit")] == [
            "zulip rate limit hit; retrying in 7.5 s",
            "zulip rate limit hit; retrying in 3 s",
            "zulip rate limit hit; retrying in 300 s",
        ]
        assert run.health.reconnects == 3 and no_restarts(run)


def outage_longer_than(seconds: float) -> int:
    """How many failed polls in a row it takes for the backoff to outlast `seconds`."""
    total = itertools.accumulate(jitter(100))
    return next(count for count, elapsed in enumerate(total, start=1) if elapsed > seconds)


async def test_a_queue_collected_during_an_outage_is_replaced_with_the_gap_logged(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    outage = outage_longer_than(QUEUE_TIMEOUT_SECONDS)  # the server collects the queue
    async with running(tmp_path, *[Fault.dropped_connection()] * outage) as run:
        fake = run.zulip
        first_queue = next(iter(fake.queues))
        with trio.fail_after(2 * TEN_MINUTES):
            await fake.wait_for_calls("register", 2)
        expected = schedule(polls(fake)[0], jitter(outage))
        assert polls(fake)[: outage + 1] == expected
        lost_at = expected[-1]  # the first poll that got through: BAD_EVENT_QUEUE_ID
        assert fake.calls_to("register")[1].at == lost_at  # at once: a normal expiry
        [warning] = run.logged(Level.WARN, "the event queue is gone")
        gap = lost_at - polls(fake)[0]  # since the last acknowledgement (the start)
        assert warning.message == (
            f"zulip: the event queue is gone; messages sent in the last {gap:.0f} s may have"
            " been missed; registering a new queue"
        )
        assert dict(warning.fields)["queue_id"] == first_queue
        assert "BAD_EVENT_QUEUE_ID" in dict(warning.fields)["error"]
        # and it keeps working
        alice = fake.add_user("Alice", "alice@example.com")
        with trio.fail_after(TEN_MINUTES):
            await fake.until(lambda: fake.waiting_polls == 1)
            fake.send_direct(alice, "still there?")
            await run.settled()
        assert run.routed_so_far() == []  # nobody is allowed: the poll works, access decides
        assert len(fake.direct_to(alice)) == 1  # the denial
        assert run.health.up and no_restarts(run)


async def test_a_queue_dropped_by_the_server_is_replaced_at_once(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path, allow_from=("101",)) as run:
        fake = run.zulip
        await fake.until(lambda: fake.waiting_polls == 1)
        await trio.sleep(20)
        dropped = trio.current_time()
        fake.expire_queues()
        with trio.fail_after(TEN_MINUTES):
            await fake.wait_for_calls("register", 2)
        assert fake.calls_to("register")[1].at == dropped
        alice = fake.add_user("Alice", "alice@example.com")
        with trio.fail_after(TEN_MINUTES):
            await fake.until(lambda: fake.waiting_polls == 1)
            fake.send_direct(alice, "after the restart of the server")
            message = await run.routed.receive()
        assert message.content == "after the restart of the server"
        assert len(run.logged(Level.WARN, "the event queue is gone")) == 1
        assert no_restarts(run)


async def test_credentials_refused_at_start_stop_the_channel_without_retries(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip() as fake:
        fake.revoke_api_key()
        async with run_zulip_channel(
            zulip_config(fake), fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            reason = f"{CREDENTIALS_REFUSED} (INVALID_API_KEY)"
            assert run.problems(grace=3600) == [f"zulip: stopped: {reason}"]
            [error] = run.logged(Level.ERROR, "stopped")
            assert error.message == f"zulip channel stopped: {reason}"
            start = trio.current_time()
            count = 3 * 256  # three mailboxes' worth: senders never block
            with trio.fail_after(1):
                for index in range(count):
                    await run.outbox.send(
                        OutboundMessage(channel="zulip", chat_id="101", content=f"r{index}")
                    )
                await trio.testing.wait_all_tasks_blocked()
            assert trio.current_time() == start
            assert run.health.send_failures == count
            await trio.sleep(TEN_MINUTES)
            assert len(fake.calls_to("users/me")) == 1  # no restart storm, no retry
            assert fake.calls_to("register") == [] and fake.sent == []
            assert no_restarts(run) and run.health.stopped
    assert all(fake.api_key not in r.message + str(r.fields) for r in run.records())


async def test_credentials_revoked_while_polling_stop_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        first = (await run.zulip.wait_for_calls("events", 1))[0].at
        run.zulip.revoke_api_key()
        await trio.sleep_until(first + TEN_MINUTES)
        # the waiting poll ends with its heartbeat; the next one is refused; none after it
        assert polls(run.zulip) == [first, first + HEARTBEAT_SECONDS]
        assert run.health.stopped
        [problem] = run.problems(grace=3600)
        assert problem.startswith(f"zulip: stopped: {CREDENTIALS_REFUSED}")
        assert "401 INVALID_API_KEY" in problem
        assert [e.message for e in run.logged(Level.ERROR, "stopped")] == [
            "zulip channel stopped: the bot's credentials were refused (401)"
        ]
        assert no_restarts(run)
