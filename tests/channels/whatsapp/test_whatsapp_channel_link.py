"""The WhatsApp channel's link to the bridge: reconnects at exact virtual times, health, stops.

A bridge that keeps dropping the connection is retried after jittered
exponential backoffs drawn from the seeded rng; one that refuses our proof,
cannot prove its own, or took another client instead is retried later and
named in an ERROR; `/healthz` says the channel waits for the phone while the
bridge shows a QR code (its PNG path logged, its payload never), and a
logout or another protocol version stops the channel for good.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from autobot.channels.whatsapp.actor import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    REFUSED_BASE,
    REFUSED_CAP,
)
from autobot.channels.whatsapp.protocol import CloseCode, LinkState
from autobot.logs.records import Level
from autobot.runtime import backoff_delay
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    direct_message,
    serve_fake_bridge,
    user_jid,
)
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import WhatsAppRun, external_config, run_whatsapp_channel

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
SEED = 20260101
ALICE = "+15551234567"
STEP = 60.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def channel(
    tmp_path: Path, *, key: bytes = KEY, **bridge_settings: Any
) -> AsyncIterator[tuple[FakeBridge, WhatsAppRun]]:
    async with (
        serve_fake_bridge(key, **bridge_settings) as bridge,
        run_whatsapp_channel(
            external_config(bridge, allow_from=(ALICE,)),
            bot_dir=tmp_path,
            key=KEY,
            rng=random.Random(SEED),
        ) as run,
    ):
        yield bridge, run


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_a_failing_bridge_is_retried_after_exact_jittered_backoffs(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleeps = [backoff_delay(n, BACKOFF_BASE, BACKOFF_CAP, rng) for n in range(3)]
    async with channel(tmp_path, drops_after_welcome=3) as (bridge, run):
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.handshakes) == 2)
        down = run.health.snapshot()
        assert (down.up, down.since, down.reconnects) == (False, bridge.handshakes[0], 1)
        assert "bridge: the bridge connection closed (1011" in down.reason
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.handshakes) == 4)
        await trio.sleep(1)
        assert run.health.up and run.health.reconnects == 3
        assert run.supervisor.statistics().total_restarts == 0
        retries = run.logged(Level.WARN, "whatsapp bridge unreachable; retrying in")
        assert len(retries) == 3
    assert gaps(bridge.handshakes) == pytest.approx(sleeps, abs=1e-9)


async def test_a_bridge_with_another_secret_is_retried_later_and_named(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleeps = [REFUSED_BASE + backoff_delay(n, REFUSED_BASE, REFUSED_CAP, rng) for n in range(2)]
    async with channel(tmp_path, key=OTHER_KEY) as (bridge, run):
        with trio.fail_after(STEP * 10):
            await bridge.until(lambda: len(bridge.refusals) == 3)
        assert bridge.refused_codes() == [4001, 4001, 4001]
        errors = run.logged(Level.ERROR, "secret file differs")
        assert len(errors) >= 2
        assert "channels.whatsapp.bridge_secret_file" in run.health.reason
        assert not run.health.up and not run.health.stopped
        bridge.key = KEY  # the operator fixed the secret
        with trio.fail_after(STEP * 10):
            await bridge.until(lambda: bridge.connected)
    assert gaps([r.at for r in bridge.refusals]) == pytest.approx(sleeps, abs=1e-9)


async def test_an_impostor_and_a_replacing_client_are_errors_retried_later(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path, impostor=True) as (bridge, run):
        with trio.fail_after(STEP * 10):
            await run.until_logged(Level.ERROR, "not autobot's bridge")
        assert not run.health.up
        bridge.impostor = False
        with trio.fail_after(STEP * 10):
            await bridge.until(lambda: bridge.connected)
        await bridge.drop_client(CloseCode.REPLACED, "replaced")
        with trio.fail_after(STEP):
            [record] = await run.until_logged(Level.ERROR, "replaced this gateway")
        assert "retrying in" in record.message
        with trio.fail_after(STEP * 10):
            await bridge.until(lambda: bridge.connected)


async def test_qr_codes_mean_waiting_for_the_phone_and_their_payload_is_never_logged(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    payload = "2@QRPAYLOADSECRET,abcdef=="
    async with channel(tmp_path, link_state=LinkState.QR) as (bridge, run):
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.connected)
        bridge.push_qr(payload, "/bots/alice/whatsapp-qr.png")
        with trio.fail_after(STEP):
            [record] = await run.until_logged(Level.INFO, "scan the QR code")
        assert dict(record.fields)["png"] == "/bots/alice/whatsapp-qr.png"
        assert run.health.reason.startswith("waiting for the phone to link")
        assert "whatsapp-qr.png" in run.health.reason
        assert run.board.problems(trio.current_time() + 1000, grace=120)
        bridge.push_status(LinkState.OPEN, "linked")
        with trio.fail_after(STEP):
            await run.until_logged(Level.INFO, "whatsapp is open")
        assert run.health.up
        assert all(payload not in str(r) for r in run.records())


async def test_a_logout_stops_the_channel_and_replies_are_dropped(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        bridge.post(direct_message(ALICE, "hi", message_id=bridge.message_id()))
        with trio.fail_after(STEP):
            message = await run.routed.receive()
        bridge.push_status(LinkState.LOGGED_OUT, "unlinked from the phone")
        with trio.fail_after(STEP):
            await run.until_logged(Level.ERROR, "whatsapp channel stopped")
        assert run.health.stopped and "link it again" in run.health.reason
        await run.reply(message, "too late")
        with trio.fail_after(STEP):
            await run.until_logged(Level.WARN, "whatsapp reply dropped: the channel is stopped")
        assert run.supervisor.statistics().total_restarts == 0
    assert bridge.sent_texts(user_jid(ALICE)) == []


async def test_another_protocol_version_stops_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.connected)
        await bridge.drop_client(CloseCode.UNSUPPORTED_VERSION, "unsupported version")
        with trio.fail_after(STEP):
            await run.until_logged(Level.ERROR, "whatsapp channel stopped")
        assert "protocol version 2" in run.health.reason and run.health.stopped


async def test_unusable_frames_are_skipped_and_the_link_stays(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.connected)
        bridge.push_raw('{"type":"presence","chat":"x"}')
        bridge.push_raw('{"type":"status","state":"dancing","detail":""}')
        bridge.push_raw("[1, 2]")
        bridge.post(direct_message(ALICE, "still works", message_id=bridge.message_id()))
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
        assert routed.content == "still works"
        assert len(run.logged(Level.WARN, "whatsapp bridge sent an unusable frame")) == 3
        assert len(bridge.handshakes) == 1


async def test_an_external_bridge_needs_its_secret_file(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with (
        serve_fake_bridge(KEY) as bridge,
        run_whatsapp_channel(external_config(bridge, allow_from=(ALICE,)), bot_dir=tmp_path) as run,
    ):
        with trio.fail_after(STEP):
            await run.until_logged(Level.ERROR, "whatsapp channel stopped")
        assert "does not exist" in run.health.reason and "openssl rand -hex 32" in run.health.reason
        assert not (tmp_path / "state" / "whatsapp-bridge-secret").exists()  # never invented
        assert bridge.handshakes == [] and bridge.refusals == []
