"""The Telegram channel's network trouble, at exact virtual times.

The real channel (launcher, client, journal, actor, under the channel
supervisor) talks to the loopback Bot API fake; the router side is a memory
channel (`autobot.testing.telegram_channel`). Failures are the fake's own:
5xx answers, dropped connections, a stalled poll, 429 with retry_after, both
409 conflicts (a real rival poller; a webhook really set), a revoked token.
The channel's jitter comes from a seeded `random.Random`: every sleep is
asserted to the exact virtual second it must take.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from autobot.channels.base import OutboundMessage
from autobot.channels.telegram.actor import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    CONFLICT_BASE,
    CONFLICT_CAP,
    RETRY_AFTER_CAP,
)
from autobot.channels.telegram.api import Conflict, TelegramApi
from autobot.config.secret import Secret
from autobot.logs.records import Level
from autobot.runtime import backoff_delay
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_channel import (
    TEST_POLL_TIMEOUT,
    TelegramRun,
    channel_config,
    patient_clock,
    run_telegram_channel,
)

SEED = 20260101
POLL_MARGIN = 10.0  # TelegramApi's default: a poll is given poll_timeout + this
TEN_MINUTES = 600.0
RIVAL_POLL_TIMEOUT = 50  # the rival's long polls, told apart from the channel's (10 s)
ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def running(tmp_path: Path, *poll_faults: Fault) -> AsyncIterator[TelegramRun]:
    """The channel with a seeded rng; its first getUpdates calls get `poll_faults`."""
    async with serve_fake_telegram() as fake:
        for fault in poll_faults:
            fake.fail_next("getUpdates", fault)
        async with run_telegram_channel(
            channel_config(fake), fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            yield run


def channel_polls(fake: FakeTelegram) -> list[float]:
    """When the channel called getUpdates, faulty calls included (a rival polls
    with another timeout)."""
    return [
        call.at
        for call in fake.calls_to("getUpdates")
        if call.arguments.integer("timeout") == TEST_POLL_TIMEOUT
    ]


def schedule(start: float, sleeps: list[float]) -> list[float]:
    """The times of calls that start at `start` and are `sleeps` apart."""
    return list(itertools.accumulate(sleeps, initial=start))


def no_restarts(run: TelegramRun) -> bool:
    return run.supervisor.statistics().total_restarts == 0


async def test_getupdates_failures_back_off_with_exact_jittered_sleeps(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    faults = [
        Fault.server_error(500),
        Fault.dropped_connection(),
        Fault.server_error(502, "Bad Gateway"),
        Fault.dropped_connection(),
        Fault.server_error(503, "Service Unavailable"),
    ]
    rng = random.Random(SEED)
    sleeps = [backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, rng) for attempt in range(5)]
    # full jitter: each sleep is drawn below its exponential ceiling, and they differ
    assert all(0 <= s <= BACKOFF_BASE * 2**k for k, s in enumerate(sleeps))
    assert len(set(sleeps)) == len(sleeps)
    async with running(tmp_path, *faults) as run:
        first = (await run.telegram.wait_for_calls("getUpdates", 3))[0].at
        # mid-outage: down since the first failure, counted, and named past the grace
        down = run.health.snapshot()
        assert (down.up, down.since, down.reconnects) == (False, first, 2)
        down_for = trio.current_time() - first
        assert run.problems(grace=0) == [
            f"telegram: down for {down_for:.0f} s: {run.health.reason}"
        ]
        assert run.health.reason.startswith("Telegram getUpdates:")
        await run.telegram.wait_for_calls("getUpdates", 7)
        expected = schedule(first, sleeps)
        assert channel_polls(run.telegram) == [*expected, expected[-1] + TEST_POLL_TIMEOUT]
        # the first good poll answered (empty, after its timeout): up from then on
        up = run.health.snapshot()
        assert (up.up, up.since, up.reconnects) == (True, expected[-1] + TEST_POLL_TIMEOUT, 5)
        assert run.problems(grace=0.5) == []
        warnings = run.logged(Level.WARN, "telegram unreachable")
        assert [w.message for w in warnings] == [
            f"telegram unreachable; retrying in {s:.1f} s" for s in sleeps
        ]
        assert "500 Internal Server Error" in dict(warnings[0].fields)["error"]
        assert "503 Service Unavailable" in dict(warnings[4].fields)["error"]
        assert no_restarts(run)


async def test_start_up_failures_back_off_until_getme_and_deletewebhook_work(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleeps = [backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, rng) for attempt in range(3)]
    async with serve_fake_telegram() as fake:
        fake.fail_next("getMe", Fault.server_error(500), count=2)
        fake.fail_next("deleteWebhook", Fault.dropped_connection())
        async with run_telegram_channel(
            channel_config(fake), fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            # ready (the supervisor's start returned) only once connected
            [get_me_1, get_me_2, get_me_3, get_me_4] = [c.at for c in fake.calls_to("getMe")]
            [refused, deleted] = [c.at for c in fake.calls_to("deleteWebhook")]
            start = get_me_1
            attempts = schedule(start, sleeps)
            assert [get_me_1, get_me_2, get_me_3, get_me_4] == attempts
            assert (refused, deleted) == (get_me_3, get_me_4)
            [poll] = (await fake.wait_for_calls("getUpdates", 1))[:1]
            assert poll.at == attempts[-1]
            assert run.health.reconnects == 3 and run.health.since == start
            assert len(run.logged(Level.WARN, "telegram unreachable")) == 3
            assert no_restarts(run)


async def test_a_stalled_poll_is_abandoned_at_the_clients_bound_and_restarted(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    sleep = backoff_delay(0, BACKOFF_BASE, BACKOFF_CAP, random.Random(SEED))
    async with running(tmp_path, Fault.stall()) as run:
        await run.telegram.wait_for_calls("getUpdates", 2)
        stalled = channel_polls(run.telegram)[0]
        bound = TEST_POLL_TIMEOUT + POLL_MARGIN
        assert channel_polls(run.telegram) == [stalled, stalled + bound + sleep]
        [warning] = run.logged(Level.WARN, "telegram unreachable")
        assert dict(warning.fields)["error"] == f"Telegram getUpdates: no answer within {bound:g} s"
        assert run.health.since == stalled + bound and run.health.reconnects == 1
        # the restarted poll works: a message arrives at once
        run.telegram.post_text(ALICE, "still there?")
        await run.settled()
        assert run.routed_so_far() == []  # nobody is allowed: the poll works, access decides
        assert run.health.up and no_restarts(run)


async def test_429_on_getupdates_waits_exactly_retry_after_capped(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    faults = (Fault.too_many_requests(7), Fault.too_many_requests(1000))
    async with running(tmp_path, *faults) as run:
        await run.telegram.wait_for_calls("getUpdates", 3)
        limited = channel_polls(run.telegram)[0]
        assert channel_polls(run.telegram) == [limited, limited + 7, limited + 7 + RETRY_AFTER_CAP]
        assert run.health.reconnects == 2
        assert "429 Too Many Requests: retry after 1000" in run.health.reason
        assert no_restarts(run)


async def rival_poller(fake: FakeTelegram) -> None:
    """Another program polling with the same token, forever: each of its polls
    ends any other waiting one with 409, and it polls again as soon as one of
    its own is ended (no backoff at all: the worst neighbour)."""
    async with httpx.AsyncClient(trust_env=False) as client:
        api = TelegramApi(client=client, api_base=fake.base_url, token=Secret(fake.token))
        while True:
            try:
                await api.get_updates(
                    offset=None, poll_timeout=RIVAL_POLL_TIMEOUT, allowed_updates=("message",)
                )
            except Conflict:
                pass


def conflict_sleeps(count: int) -> list[float]:
    rng = random.Random(SEED)
    return [
        CONFLICT_BASE + backoff_delay(attempt, CONFLICT_BASE, CONFLICT_CAP, rng)
        for attempt in range(count)
    ]


def within(start: float, sleeps: list[float], end: float) -> list[float]:
    return [at for at in schedule(start, sleeps) if at <= end]


async def test_another_poller_is_a_named_error_and_a_slow_backoff(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run, trio.open_nursery() as nursery:
        first = (await run.telegram.wait_for_calls("getUpdates", 1))[0].at
        nursery.start_soon(rival_poller, run.telegram)  # ends the channel's poll at once
        await trio.sleep_until(first + TEN_MINUTES)
        times = channel_polls(run.telegram)
        expected = within(first, conflict_sleeps(len(times)), first + TEN_MINUTES)
        assert times == expected
        # never a hot loop: at most one poll per CONFLICT_BASE seconds, whatever the rng
        assert len(times) <= TEN_MINUTES / CONFLICT_BASE + 1
        errors = run.logged(Level.ERROR, "telegram:")
        assert len(errors) == len(times) == run.health.reconnects
        for error, sleep in zip(errors, conflict_sleeps(len(errors)), strict=True):
            assert error.message == (
                "telegram: another program is polling with this bot's token;"
                f" retrying in {sleep:.0f} s"
            )
            assert "terminated by other getUpdates request" in dict(error.fields)["error"]
        assert not run.health.up and run.health.since == first
        [problem] = run.problems(grace=60)
        assert problem.startswith("telegram: down for 600 s: Telegram getUpdates: 409 Conflict")
        assert no_restarts(run)
        nursery.cancel_scope.cancel("test over: the rival stops polling")


async def test_an_active_webhook_is_a_named_error_and_a_slow_backoff(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run, httpx.AsyncClient(trust_env=False) as client:
        first = (await run.telegram.wait_for_calls("getUpdates", 1))[0].at
        # another deployment of this bot sets a webhook while the channel polls
        answer = await client.post(
            f"{run.telegram.api_url}/setWebhook",
            json={"url": "https://bot.example.org/telegram/webhook"},
        )
        assert answer.json()["ok"] is True
        await trio.sleep_until(first + TEN_MINUTES)
        times = channel_polls(run.telegram)
        assert times == within(first, conflict_sleeps(len(times)), first + TEN_MINUTES)
        assert len(times) <= TEN_MINUTES / CONFLICT_BASE + 1
        errors = run.logged(Level.ERROR, "telegram:")
        assert len(errors) == len(times) == run.health.reconnects
        for error, sleep in zip(errors, conflict_sleeps(len(errors)), strict=True):
            assert (
                error.message
                == f"telegram: a webhook is set for this bot; retrying in {sleep:.0f} s"
            )
        # the poll the setWebhook ended, then every poll while the webhook is set
        assert "terminated by setWebhook request" in dict(errors[0].fields)["error"]
        assert "webhook is active" in dict(errors[-1].fields)["error"]
        assert no_restarts(run)


async def test_a_token_rejected_at_start_stops_the_channel_without_restarts(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_telegram() as fake:
        fake.revoke_token()
        async with run_telegram_channel(
            channel_config(fake), fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            reason = "the Bot API rejected the token (401): check TELEGRAM_BOT_TOKEN in .env"
            assert run.problems(grace=3600) == [f"telegram: stopped: {reason}"]
            [error] = run.logged(Level.ERROR, "stopped")
            assert error.message == f"telegram channel stopped: {reason}"
            # replies keep coming (sessions answer): senders never block, each is dropped
            start = trio.current_time()
            count = 3 * 256  # three mailboxes' worth
            with trio.fail_after(1):
                for index in range(count):
                    await run.outbox.send(
                        OutboundMessage(channel="telegram", chat_id="1001", content=f"r{index}")
                    )
                await trio.testing.wait_all_tasks_blocked()
            assert trio.current_time() == start
            dropped = run.logged(Level.WARN, "reply dropped: the channel is stopped")
            assert len(dropped) == count == run.health.send_failures
            await trio.sleep(TEN_MINUTES)
            assert len(fake.calls_to("getMe")) == 1  # no restart storm, no retry
            assert fake.calls_to("getUpdates") == [] and fake.calls_to("sendMessage") == []
            assert no_restarts(run) and run.health.stopped
            stopping = trio.current_time()
        assert trio.current_time() == stopping  # a stopped channel stops at once
    secret = fake.token.split(":", 1)[1]
    assert all(secret not in record.message + str(record.fields) for record in run.records())


async def test_a_token_revoked_while_polling_stops_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        first = (await run.telegram.wait_for_calls("getUpdates", 1))[0].at
        run.telegram.revoke_token()
        await trio.sleep_until(first + TEN_MINUTES)
        # the waiting poll ends normally; the next one is refused; none after it
        assert channel_polls(run.telegram) == [first, first + TEST_POLL_TIMEOUT]
        assert run.health.stopped
        assert run.problems(grace=3600) == [
            "telegram: stopped: Telegram getUpdates: 401 Unauthorized"
        ]
        assert [e.message for e in run.logged(Level.ERROR, "stopped")] == [
            "telegram channel stopped: the token was revoked (401)"
        ]
        # replies are not retried against a revoked token
        with trio.fail_after(1):
            await run.outbox.send(
                OutboundMessage(channel="telegram", chat_id="1001", content="late", final=True)
            )
            await run.telegram.wait_for_calls("sendMessage", 1)
        await trio.sleep(TEN_MINUTES)
        assert len(run.telegram.calls_to("sendMessage")) == 1
        assert run.health.send_failures == 1
        assert no_restarts(run)
