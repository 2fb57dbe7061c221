"""Replies on WhatsApp: chunked, retried when the failure is transient, given up when not.

Every reply is a `send` request answered by `sent` or `error`; the fake
bridge records what it sent. Every attempt of a request carries its one
request id, so a retry after a lost answer (a dropped connection, a bridge
restart) is answered from the bridge's record instead of sent twice. Timings are exact virtual seconds: the channel's
jitter comes from a seeded `random.Random`, and no real time passes.
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

from autobot.channels.base import Attachment, AttachmentKind, InboundMessage, OutboundMessage
from autobot.channels.whatsapp.actor import (
    ANSWER_SECONDS,
    CHUNK_UNITS,
    SEND_ATTEMPTS,
    SEND_BACKOFF_BASE,
    SEND_BACKOFF_CAP,
)
from autobot.channels.whatsapp.endpoint import UrlEndpoint
from autobot.channels.whatsapp.protocol import Send, SendMedia, utf16_units
from autobot.logs.records import Level, LogRecord
from autobot.runtime import backoff_delay
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    SendFault,
    direct_message,
    group_message,
    serve_fake_bridge,
    user_jid,
)
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import WhatsAppRun, external_config, run_whatsapp_channel

KEY = bytes(range(32))
SEED = 20260101
ALICE = "+15551234567"
CHAT = user_jid(ALICE)
GROUP = "120363012345678901@g.us"
STEP = 60.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def channel(
    tmp_path: Path, **bridge_settings: Any
) -> AsyncIterator[tuple[FakeBridge, WhatsAppRun]]:
    async with (
        serve_fake_bridge(KEY, workspace=tmp_path / "workspace", **bridge_settings) as bridge,
        run_whatsapp_channel(
            external_config(bridge, allow_from=(ALICE,), group_allow_from=(GROUP,)),
            bot_dir=tmp_path,
            key=KEY,
            rng=random.Random(SEED),
        ) as run,
    ):
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.connected)
        yield bridge, run


async def asked(bridge: FakeBridge, run: WhatsAppRun, text: str = "hi") -> InboundMessage:
    bridge.post(direct_message(ALICE, text, message_id=bridge.message_id()))
    with trio.fail_after(STEP):
        return await run.routed.receive()


async def settle() -> None:
    """One virtual second: the journal's thread work after a delivery is done."""
    await trio.sleep(1)


async def given_up(run: WhatsAppRun, count: int = 1) -> list[LogRecord]:
    with trio.fail_after(STEP * 2):
        return await run.until_logged(Level.ERROR, "whatsapp message not delivered", count)


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def retry_sleeps(count: int) -> list[float]:
    """The channel's first `count` send backoffs with the seeded rng (no
    reconnect happens in these tests, so these are its first draws)."""
    rng = random.Random(SEED)
    return [backoff_delay(n, SEND_BACKOFF_BASE, SEND_BACKOFF_CAP, rng) for n in range(count)]


async def test_a_long_reply_is_cut_into_chunks_the_bridge_accepts(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        words = " ".join(f"w{i}" for i in range(3000)) + " \U0001f600" * 2000
        await run.reply(message, words)
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.delivered) >= 3)
        await settle()
    parts = bridge.sent_texts(CHAT)
    assert len(parts) >= 3
    assert all(utf16_units(part) <= CHUNK_UNITS for part in parts)
    assert " ".join(parts).split() == words.split()
    assert run.health.journal_backlog == 0


async def test_a_reply_is_sent_in_whatsapp_markup(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        await run.reply(message, "# Plan\n\n**Do** [this](https://e.com) ~~now~~\n\n```\n*x*\n```")
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.delivered) >= 1)
        await settle()
    assert bridge.sent_texts(CHAT) == ["*Plan*\n\n*Do* this (https://e.com) ~now~\n\n```\n*x*\n```"]


async def test_a_long_bold_reply_is_closed_and_reopened_at_each_cut(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        words = " ".join(f"w{i}" for i in range(2000))
        await run.reply(message, f"**{words}**")
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.delivered) >= 3)
        await settle()
    parts = bridge.sent_texts(CHAT)
    assert len(parts) == 3
    assert all(part.startswith("*w") and part.endswith("*") for part in parts)
    assert " ".join(part.strip("*") for part in parts) == words


async def test_a_group_reply_quotes_its_message_on_the_first_chunk_only(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        posted = bridge.post(
            group_message(
                GROUP, ALICE, "@bot essay", message_id=bridge.message_id(), mentioned=True
            )
        )
        with trio.fail_after(STEP):
            message = await run.routed.receive()
        await run.reply(message, "x " * 5000)
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.delivered) == 3)
    sends = [r for r in bridge.delivered if isinstance(r, Send)]
    assert len(sends) == 3
    assert [s.reply_to for s in sends] == [posted.id, None, None]
    assert {s.to for s in sends} == {GROUP}


async def test_transient_errors_are_retried_after_exact_backoffs(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        transient = ["not_connected", "send_failed", "busy"]
        bridge.faults.extend(SendFault.error(code) for code in transient)
        await run.reply(message, "eventually")
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.sent_texts(CHAT) == ["eventually"])
        await settle()
        assert run.health.journal_backlog == 0 and run.health.send_failures == 0
    attempts = [r for r in bridge.requests if isinstance(r, Send)]
    assert len(attempts) == 4
    assert gaps(bridge.request_times) == pytest.approx(retry_sleeps(3), abs=1e-9)
    assert len({a.request_id for a in attempts}) == 1  # one request, retried


async def test_retries_run_out_and_the_message_waits_for_a_restart(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        bridge.faults.extend([SendFault.error("not_connected")] * SEND_ATTEMPTS)
        await run.reply(message, "lost for now")
        [record] = await given_up(run)
        assert dict(record.fields)["chat_id"] == CHAT
        assert "not_connected" in dict(record.fields)["error"]
        await settle()
        # the journal entry stays: a restart answers it
        assert run.health.journal_backlog == 1 and run.health.send_failures == 1
    assert bridge.sent_texts(CHAT) == []
    assert len(bridge.requests) == SEND_ATTEMPTS
    assert gaps(bridge.request_times) == pytest.approx(retry_sleeps(SEND_ATTEMPTS - 1), abs=1e-9)


async def test_a_refusal_is_not_retried_and_completes_the_turn(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        bridge.faults.append(SendFault.error("bad_request"))
        await run.reply(message, "refused")
        [record] = await given_up(run)
        assert "bad_request" in dict(record.fields)["error"]
        await settle()
        assert run.health.journal_backlog == 0  # retrying could not help: the turn is over
        assert len(bridge.requests) == 1


async def test_a_stalled_request_times_out_and_is_retried(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        bridge.faults.append(SendFault(stall=True))
        await run.reply(message, "slow")
        with trio.fail_after(STEP * 2):
            await bridge.until(lambda: bridge.sent_texts(CHAT) == ["slow"])
    assert gaps(bridge.request_times) == [
        pytest.approx(ANSWER_SECONDS + retry_sleeps(1)[0], abs=1e-9)
    ]


async def test_a_dropped_connection_mid_request_is_retried_after_the_reconnect(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        bridge.faults.append(SendFault(drop=True))
        await run.reply(message, "survives")
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.sent_texts(CHAT) == ["survives"])
        assert len(bridge.handshakes) == 2
        assert run.health.reconnects == 1 and run.health.send_failures == 0


async def test_a_reply_whose_sent_was_lost_with_the_connection_goes_out_once(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = await asked(bridge, run)
        bridge.faults.append(SendFault(drop_after_send=True))  # sent, then the link broke
        await run.reply(message, "exactly once")
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.requests) == 2)  # retried after the reconnect
        await settle()
        assert run.health.send_failures == 0 and run.health.journal_backlog == 0
    assert bridge.sent_texts(CHAT) == ["exactly once"]
    first, retry = bridge.requests
    assert first == retry  # the same request id: the bridge answered from its record
    assert len(bridge.handshakes) == 2


async def test_a_reply_sent_just_before_the_bridge_restarted_goes_out_once(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    settings: dict[str, Any] = {
        "workspace": tmp_path / "workspace",
        "state_file": tmp_path / "bridge-state.json",  # what the bridge keeps across restarts
    }
    async with serve_fake_bridge(KEY, tcp=True) as probe:  # a free port for both incarnations
        config = external_config(probe, allow_from=(ALICE,))
        endpoint = probe.endpoint
        assert isinstance(endpoint, UrlEndpoint)
    async with run_whatsapp_channel(config, bot_dir=tmp_path, key=KEY) as run:
        async with serve_fake_bridge(KEY, port=endpoint.port, **settings) as first:
            message = await asked(first, run)
            first.faults.append(SendFault(drop_after_send=True))
            await run.reply(message, "across a restart")
            with trio.fail_after(STEP):
                await first.until(lambda: len(first.delivered) == 1)
        # the bridge process ended right after sending; a new one starts on its state
        async with serve_fake_bridge(KEY, port=endpoint.port, **settings) as second:
            with trio.fail_after(STEP):
                await second.until(lambda: len(second.requests) == 1)
            await settle()
            assert run.health.send_failures == 0 and run.health.journal_backlog == 0
    assert first.sent_texts(CHAT) == ["across a restart"]
    assert second.delivered == []  # answered from the outcome it found on disk
    assert second.requests == first.requests[-1:]  # the same request id


async def test_attachments_follow_the_text_and_the_bridge_guards_the_path(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        (run.workspace / "out").mkdir()
        (run.workspace / "out" / "report.pdf").write_bytes(b"%PDF-1.4")
        message = await asked(bridge, run)
        await run.reply(
            message,
            "here it is",
            attachments=(
                Attachment(kind=AttachmentKind.DOCUMENT, path="out/report.pdf"),
                Attachment(kind=AttachmentKind.DOCUMENT, path="../../etc/passwd"),
                Attachment(kind=AttachmentKind.PHOTO, path="out/missing.jpg"),
            ),
        )
        await given_up(run, 2)
        await settle()
        assert run.health.journal_backlog == 0 and run.health.send_failures == 2
    kinds = [type(r).__name__ for r in bridge.delivered]
    assert kinds == ["Send", "SendMedia"]
    [media] = [r for r in bridge.delivered if isinstance(r, SendMedia)]
    assert (media.path, media.kind, media.to) == ("out/report.pdf", AttachmentKind.DOCUMENT, CHAT)
    refused = [r.path for r in bridge.requests if isinstance(r, SendMedia)][1:]
    assert refused == ["../../etc/passwd", "out/missing.jpg"]  # each asked once: a refusal


async def test_a_reply_to_a_chat_that_is_no_whatsapp_jid_is_refused_locally(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        await run.outbox.send(
            OutboundMessage(channel="whatsapp", chat_id="+15551234567", content="x", final=True)
        )
        [record] = await given_up(run)
        assert "full JID" in dict(record.fields)["error"]
    assert bridge.requests == []


async def test_replies_queued_at_a_graceful_stop_are_still_sent(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_bridge(KEY) as bridge:
        async with run_whatsapp_channel(
            external_config(bridge, allow_from=(ALICE,)), bot_dir=tmp_path, key=KEY
        ) as run:
            message = await asked(bridge, run)
            for n in range(3):
                await run.reply(message, f"part {n}", final=n == 2)
        # the block's end stopped the channel gracefully: nothing was dropped
        assert bridge.sent_texts(CHAT) == ["part 0", "part 1", "part 2"]


def test_retry_sleeps_are_jittered_and_capped() -> None:
    sleeps = retry_sleeps(10)
    ceilings = [min(SEND_BACKOFF_CAP, SEND_BACKOFF_BASE * 2**n) for n in range(10)]
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == len(sleeps)
    assert list(itertools.accumulate(sleeps))[-1] <= sum(ceilings)
