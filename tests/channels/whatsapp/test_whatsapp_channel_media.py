"""Media on WhatsApp: downloaded only after the gate admitted the message, never before.

A `message` frame only describes its media; the real channel asks the fake
bridge to download them (`fetch_media`) once it has admitted the message, and
the fake records every download. A refused message is acknowledged unfetched;
an allowed one is fetched, then journaled with its files as attachments,
then acknowledged. A download that fails leaves a note the model reads and
never loses the text; a connection lost mid-fetch leaves the message to its
redelivery, fetched again into the same file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from autobot.channels.base import AttachmentKind
from autobot.channels.inbound_journal import inbound_journal_path
from autobot.channels.whatsapp.actor import FETCH_SECONDS, INBOUND_QUEUE_SIZE
from autobot.channels.whatsapp.protocol import BridgeMessage, Media
from autobot.logs.records import Level
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    SendFault,
    direct_message,
    group_message,
    inbox_name,
    serve_fake_bridge,
)
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import WhatsAppRun, external_config, run_whatsapp_channel

KEY = bytes(range(32))
ALICE = "+15551234567"
BOB = "+447700900123"
GROUP = "120363012345678901@g.us"
STEP = 30.0
PHOTO = Media(kind=AttachmentKind.PHOTO, mime_type="image/jpeg", size=5)
JPEG = b"\xff\xd8jpg"


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
        ) as run,
    ):
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.connected)
        yield bridge, run


def photo_from(bridge: FakeBridge, phone: str, text: str = "look") -> BridgeMessage:
    return bridge.post(
        direct_message(phone, text, message_id=bridge.message_id(), media=[PHOTO]), content=JPEG
    )


def saved_path(message: BridgeMessage) -> str:
    return f"inbox/{inbox_name(message.chat, message.id, AttachmentKind.PHOTO)}"


async def acked(bridge: FakeBridge, *messages: BridgeMessage) -> None:
    with trio.fail_after(STEP):
        await bridge.until(lambda: {m.id for m in messages} <= set(bridge.acks))


async def test_a_refused_senders_media_are_never_downloaded(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        stranger = photo_from(bridge, BOB)
        chatter = bridge.post(  # an allowed sender in a listed group, not addressing the bot
            attrs.evolve(
                group_message(GROUP, ALICE, "lunch?", message_id=bridge.message_id()),
                media=(PHOTO,),
            ),
            content=JPEG,
        )
        await acked(bridge, stranger, chatter)
        await trio.sleep(1)
        assert bridge.fetches == []
        assert not (run.workspace / "inbox").exists()
        assert bridge.pending == {}  # acknowledged: the bridge forgets them, undownloaded
        assert run.routed_so_far() == []


async def test_an_allowed_senders_media_are_fetched_after_admission_and_arrive_attached(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    journal = inbound_journal_path(tmp_path, "whatsapp")
    journaled_at_fetch: list[bool] = []
    async with channel(tmp_path) as (bridge, run):
        bridge.on_fetch = lambda message_id: journaled_at_fetch.append(
            journal.exists() and message_id in journal.read_text()
        )
        message = photo_from(bridge, ALICE)
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
        await acked(bridge, message)
    assert bridge.fetches == [message.id]
    assert journaled_at_fetch == [False]  # fetched first, journaled with the file after
    assert routed.content == "look"
    [attachment] = routed.attachments
    assert (attachment.kind, attachment.path, attachment.size) == (
        AttachmentKind.PHOTO,
        saved_path(message),
        len(JPEG),
    )
    assert (run.workspace / attachment.path).read_bytes() == JPEG


async def test_a_media_the_bridge_could_not_save_becomes_a_note_the_text_stays(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path, max_file_bytes=3) as (bridge, run):
        message = photo_from(bridge, ALICE, "see attached")
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
        [record] = run.logged(Level.WARN, "whatsapp media not saved")
    assert routed.attachments == ()
    assert routed.content.splitlines() == [
        "[a photo came with this message but could not be downloaded: "
        "the file is more than 3 bytes]",
        "see attached",
    ]
    fields = dict(record.fields)
    assert (fields["message_id"], fields["kind"]) == (message.id, "photo")
    assert bridge.acks == [message.id]


@pytest.mark.parametrize(
    ("fault", "waited", "reason"),
    [
        (SendFault.error("busy"), 0.0, "the bridge refused (busy)"),
        (SendFault(stall=True), FETCH_SECONDS, "the bridge did not answer within 150 s"),
    ],
    ids=["error", "no-answer"],
)
async def test_a_failed_fetch_journals_the_text_with_a_note(
    tmp_path: Path, clock: trio.testing.MockClock, fault: SendFault, waited: float, reason: str
) -> None:
    async with channel(tmp_path) as (bridge, run):
        bridge.fetch_faults.append(fault)
        message = photo_from(bridge, ALICE, "hello")
        start = trio.current_time()
        with trio.fail_after(FETCH_SECONDS + STEP):
            routed = await run.routed.receive()
        assert trio.current_time() - start == pytest.approx(waited, abs=0.5)
        await acked(bridge, message)
    assert routed.attachments == ()
    assert routed.content.splitlines() == [
        f"[a photo came with this message but could not be downloaded: {reason}]",
        "hello",
    ]


async def test_a_connection_lost_mid_fetch_leaves_it_to_the_redelivery_fetched_again(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        bridge.fetch_faults.append(SendFault(stall=True))
        message = photo_from(bridge, ALICE)
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.fetches == [message.id])
        await bridge.drop_client()  # the answer is lost with the connection
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
            await bridge.until(lambda: bridge.acks == [message.id])
        await trio.sleep(1)
        assert run.routed_so_far() == []
        assert run.health.messages_in == 1
    assert bridge.fetches == [message.id, message.id]
    assert [a.path for a in routed.attachments] == [saved_path(message)]
    assert [p.name for p in (run.workspace / "inbox").iterdir()] == [Path(saved_path(message)).name]


async def test_a_redelivered_message_the_journal_holds_is_not_fetched_again(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path, ignore_acks=True) as (bridge, run):
        message = photo_from(bridge, ALICE)
        with trio.fail_after(STEP):
            await run.routed.receive()
            await bridge.until(lambda: len(bridge.acks) == 1)
        await bridge.drop_client()  # the acknowledgement was lost with the connection
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.handshakes) == 2 and len(bridge.acks) == 2)
        await trio.sleep(1)
        assert run.routed_so_far() == []
    assert bridge.fetches == [message.id]


async def test_a_flood_while_a_fetch_waits_never_blocks_its_answer_nor_loses_a_message(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    flood = INBOUND_QUEUE_SIZE * 2
    async with channel(tmp_path) as (bridge, run):
        posted: list[BridgeMessage] = []

        def flood_before_the_answer(message_id: str) -> None:
            # message frames reach the channel before the `media` answer does
            if len(bridge.fetches) == 1:
                posted.extend(
                    bridge.post(direct_message(ALICE, f"m{n}", message_id=bridge.message_id()))
                    for n in range(flood)
                )

        bridge.on_fetch = flood_before_the_answer
        first = photo_from(bridge, ALICE)
        start = trio.current_time()
        with trio.fail_after(STEP):
            routed = [await run.routed.receive() for _ in range(flood + 1)]
            await bridge.until(lambda: not bridge.pending)
        assert trio.current_time() - start < FETCH_SECONDS  # the answer was read at once
        assert run.logged(Level.INFO, "reconnecting to take the messages the queue could not")
    assert [m.message_id for m in routed] == [first.id, *(m.id for m in posted)]
    assert [a.path for a in routed[0].attachments] == [saved_path(first)]
    assert len(bridge.handshakes) == 2
    assert bridge.fetches == [first.id]
    assert run.health.reconnects == 0  # renewed on purpose: no trouble
    assert run.health.up
