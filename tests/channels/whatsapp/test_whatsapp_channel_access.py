"""Who may talk to the bot on WhatsApp: the real channel against the fake bridge.

Deny by default; `allow_from` in phone or JID notation admits exactly that
person (also when the bridge knows only the JID); a stranger is told their
id once an hour; groups answer only when addressed (a mention or a reply to
the bot), only in listed groups and only to allowed senders, and never say
a word to a refused one there. Every message, refused or not, is
acknowledged: the bridge must not deliver it again. (Media of refused
messages are never downloaded: test_whatsapp_channel_media.py.)
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

from autobot.channels.whatsapp.protocol import BridgeMessage
from autobot.config.schema import DmPolicy, GroupPolicy
from autobot.logs.records import Level
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    direct_message,
    group_message,
    serve_fake_bridge,
    user_jid,
)
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import WhatsAppRun, external_config, run_whatsapp_channel

KEY = bytes(range(32))
ALICE = "+15551234567"
BOB = "+447700900123"
GROUP = "120363012345678901@g.us"
OTHER_GROUP = "120363099999999999@g.us"
STEP = 30.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def channel(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[FakeBridge, WhatsAppRun]]:
    async with (
        serve_fake_bridge(KEY) as bridge,
        run_whatsapp_channel(external_config(bridge, **settings), bot_dir=tmp_path, key=KEY) as run,
    ):
        await bridge.until(lambda: bridge.connected)
        yield bridge, run


async def settled(bridge: FakeBridge, *messages: BridgeMessage) -> None:
    """Until the channel acknowledged `messages` (each was judged, and
    journaled and handed on if allowed)."""
    with trio.fail_after(STEP):
        await bridge.until(lambda: {m.id for m in messages} <= set(bridge.acks))


@pytest.mark.parametrize(
    "entry", [ALICE, "15551234567@s.whatsapp.net", "15551234567:7@s.whatsapp.net"]
)
@pytest.mark.parametrize("phone_known", [True, False], ids=["phone", "jid-only"])
async def test_an_entry_in_either_notation_admits_the_sender(
    tmp_path: Path, clock: trio.testing.MockClock, entry: str, phone_known: bool
) -> None:
    async with channel(tmp_path, allow_from=(entry,)) as (bridge, run):
        message = bridge.post(
            direct_message(ALICE, "hello", message_id=bridge.message_id(), phone_known=phone_known)
        )
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
        assert (routed.sender_id, routed.chat_id, routed.content) == (
            ALICE,
            user_jid(ALICE),
            "hello",
        )
        assert routed.message_id == message.id and routed.journal_id is not None
        await run.reply(routed, "Hi Alice!")
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.sent_texts(user_jid(ALICE)) == ["Hi Alice!"])
    assert bridge.acks == [message.id] and bridge.pending == {}


async def test_nobody_else_is_admitted_not_even_a_prefix(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    # "+1555123" is a prefix of Alice's number, "+155512345678" extends it
    async with channel(tmp_path, allow_from=("+1555123", "+155512345678", BOB)) as (bridge, run):
        first = bridge.post(direct_message(ALICE, "let me in", message_id=bridge.message_id()))
        await settled(bridge, first)
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.sent_texts(user_jid(ALICE))) == 1)
        second = bridge.post(direct_message(ALICE, "please", message_id=bridge.message_id()))
        await settled(bridge, second)
        await trio.sleep(1)
        assert run.routed_so_far() == []
        [denial] = bridge.sent_texts(user_jid(ALICE))  # once an hour, not per message
        assert "Your whatsapp id is +15551234567" in denial
        assert run.health.denied == 2
        records = run.logged(Level.WARN, "ACCESS DENIED")
        assert [dict(r.fields)["sender_id"] for r in records] == [ALICE, ALICE]
        assert all("let me in" not in str(r) for r in run.records())


async def test_an_empty_allow_from_denies_everyone(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path) as (bridge, run):
        message = bridge.post(direct_message(BOB, "hi", message_id=bridge.message_id()))
        await settled(bridge, message)
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.sent_texts(user_jid(BOB))) == 1)
        assert run.routed_so_far() == []


async def test_pairing_gives_a_stranger_a_code(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path, dm_policy=DmPolicy.PAIRING) as (bridge, run):
        bridge.post(direct_message(BOB, "hi", message_id=bridge.message_id()))
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.sent_texts(user_jid(BOB))) == 1)
        [text] = bridge.sent_texts(user_jid(BOB))
        assert "autobot pairing approve whatsapp" in text
        assert run.routed_so_far() == []


async def test_groups_answer_allowed_senders_who_address_the_bot(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path, allow_from=(ALICE,), group_allow_from=(GROUP,)) as (bridge, run):
        chatter = bridge.post(group_message(GROUP, ALICE, "lunch?", message_id=bridge.message_id()))
        stranger = bridge.post(
            group_message(GROUP, BOB, "@bot hi", message_id=bridge.message_id(), mentioned=True)
        )
        elsewhere = bridge.post(
            group_message(
                OTHER_GROUP, ALICE, "@bot hi", message_id=bridge.message_id(), mentioned=True
            )
        )
        mention = bridge.post(
            group_message(
                GROUP, ALICE, "@bot time?", message_id=bridge.message_id(), mentioned=True
            )
        )
        reply = bridge.post(
            group_message(
                GROUP, ALICE, "and now?", message_id=bridge.message_id(), reply_to_bot=True
            )
        )
        await settled(bridge, chatter, stranger, elsewhere, mention, reply)
        with trio.fail_after(STEP):
            first = await run.routed.receive()
            second = await run.routed.receive()
        assert [first.message_id, second.message_id] == [mention.id, reply.id]
        assert first.is_group and first.addressed and first.chat_id == GROUP
        assert first.sender_name == "Alice"
        await run.reply(first, "noon")
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.sent_texts(GROUP) == ["noon"])
        [sent] = bridge.delivered
        assert sent.reply_to == mention.id  # a group reply quotes what it answers
        await trio.sleep(1)
        assert run.routed_so_far() == []
        # no word in any group to a refused sender or an unlisted group
        assert bridge.sent_texts(OTHER_GROUP) == [] and bridge.sent_texts(user_jid(BOB)) == []
        assert run.health.denied == 2  # Bob addressed the bot; the unlisted group too


async def test_open_groups_and_disabled_groups(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(
        tmp_path,
        allow_from=(ALICE,),
        group_policy=GroupPolicy.OPEN,
        group_allow_from=(GROUP,),
    ) as (bridge, run):
        bridge.post(group_message(GROUP, ALICE, "no mention", message_id=bridge.message_id()))
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
        assert routed.content == "no mention" and not routed.addressed
    async with channel(
        tmp_path / "disabled", allow_from=(ALICE,), group_policy=GroupPolicy.DISABLED
    ) as (bridge, run):
        message = bridge.post(
            group_message(GROUP, ALICE, "@bot", message_id=bridge.message_id(), mentioned=True)
        )
        await settled(bridge, message)
        await trio.sleep(1)
        assert run.routed_so_far() == [] and bridge.sent_texts(GROUP) == []


async def test_malformed_messages_are_acknowledged_and_dropped(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel(tmp_path, allow_from=("*",)) as (bridge, run):
        broken = bridge.post(
            attrs.evolve(
                direct_message(ALICE, "hi", message_id=bridge.message_id()), chat="status@broadcast"
            )
        )
        await settled(bridge, broken)
        good = bridge.post(direct_message(ALICE, "still here", message_id=bridge.message_id()))
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
        assert routed.message_id == good.id
        assert run.logged(Level.WARN, "whatsapp message dropped: malformed")


async def test_entries_that_can_never_match_stop_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with channel_without_link(tmp_path, allow_from=("15551234567",)) as run:
        with trio.fail_after(STEP):
            await run.until_logged(Level.ERROR, "whatsapp channel stopped")
        assert run.health.stopped
        assert "'+15551234567'" in run.health.reason
        assert run.supervisor.statistics().total_restarts == 0


@asynccontextmanager
async def channel_without_link(tmp_path: Path, **settings: Any) -> AsyncIterator[WhatsAppRun]:
    async with (
        serve_fake_bridge(KEY) as bridge,
        run_whatsapp_channel(external_config(bridge, **settings), bot_dir=tmp_path, key=KEY) as run,
    ):
        yield run
