"""Nothing lost, nothing answered twice: journal before acknowledging, redelivery deduplicated.

The bridge keeps each message until the channel acknowledges it and delivers
every unacknowledged one again after each handshake. The channel journals a
message (fsync) before it acknowledges it, so an acknowledged message is
never lost; a redelivered one the journal already holds (waiting for its
reply, or answered) is acknowledged again and never handed to a session a
second time, also by a new incarnation of the channel after a restart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.inbound_journal import inbound_journal_path
from autobot.testing.fake_whatsapp_bridge import direct_message, serve_fake_bridge, user_jid
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import external_config, run_whatsapp_channel

KEY = bytes(range(32))
ALICE = "+15551234567"
STEP = 30.0


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


async def test_a_message_is_journaled_before_it_is_acknowledged(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    journal = inbound_journal_path(tmp_path, "whatsapp")
    seen_at_ack: list[bool] = []
    async with serve_fake_bridge(KEY) as bridge:
        # when the acknowledgement arrives, the journal file already holds the message
        bridge.on_ack = lambda message_id: seen_at_ack.append(message_id in journal.read_text())
        async with run_whatsapp_channel(
            external_config(bridge, allow_from=(ALICE,)), bot_dir=tmp_path, key=KEY
        ) as run:
            message = bridge.post(direct_message(ALICE, "remember", message_id=bridge.message_id()))
            with trio.fail_after(STEP):
                await run.routed.receive()
                await bridge.until(lambda: bridge.acks == [message.id])
    assert seen_at_ack == [True]


async def test_a_lost_acknowledgement_means_a_redelivery_that_is_not_answered_twice(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with (
        serve_fake_bridge(KEY, ignore_acks=True) as bridge,
        run_whatsapp_channel(
            external_config(bridge, allow_from=(ALICE,)), bot_dir=tmp_path, key=KEY
        ) as run,
    ):
        message = bridge.post(direct_message(ALICE, "once", message_id=bridge.message_id()))
        with trio.fail_after(STEP):
            routed = await run.routed.receive()
            await bridge.until(lambda: len(bridge.acks) == 1)
        await bridge.drop_client()  # the acknowledgement was lost with the connection
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.handshakes) == 2 and len(bridge.acks) == 2)
        await run.reply(routed, "done")  # answered after the redelivery came in
        with trio.fail_after(STEP):
            await bridge.until(lambda: bridge.sent_texts(user_jid(ALICE)) == ["done"])
        await trio.sleep(1)  # the answer arrives and the journal entry is done
        assert run.health.journal_backlog == 0
        bridge.ignore_acks = False
        await bridge.drop_client()  # and once more, after the answer
        with trio.fail_after(STEP):
            await bridge.until(lambda: len(bridge.handshakes) == 3 and not bridge.pending)
        await trio.sleep(1)
        assert run.routed_so_far() == []
        assert run.health.messages_in == 1 and run.health.journal_backlog == 0
    assert bridge.acks == [message.id] * 3
    assert bridge.sent_texts(user_jid(ALICE)) == ["done"]


async def test_messages_that_arrive_while_disconnected_come_after_the_reconnect(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_bridge(KEY) as bridge:
        bridge.drops_after_welcome = 3  # the bridge keeps failing for a while
        posted = [
            bridge.post(direct_message(ALICE, f"m{n}", message_id=bridge.message_id()))
            for n in range(5)
        ]
        async with run_whatsapp_channel(
            external_config(bridge, allow_from=(ALICE,)), bot_dir=tmp_path, key=KEY
        ) as run:
            with trio.fail_after(STEP * 3):
                routed = [await run.routed.receive() for _ in posted]
            assert [m.content for m in routed] == ["m0", "m1", "m2", "m3", "m4"]
            with trio.fail_after(STEP):
                await bridge.until(lambda: not bridge.pending)
    assert len(bridge.handshakes) == 4


async def test_a_restarted_channel_replays_its_journal_and_drops_the_redelivery(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_bridge(KEY, ignore_acks=True) as bridge:
        settings = external_config(bridge, allow_from=(ALICE,))
        async with run_whatsapp_channel(settings, bot_dir=tmp_path, key=KEY) as first:
            bridge.post(direct_message(ALICE, "unanswered", message_id=bridge.message_id()))
            with trio.fail_after(STEP):
                before = await first.routed.receive()
                await bridge.until(lambda: len(bridge.acks) == 1)
        # stopped before any reply; the bridge never heard the acknowledgement
        async with run_whatsapp_channel(settings, bot_dir=tmp_path, key=KEY) as second:
            with trio.fail_after(STEP):
                replayed = await second.routed.receive()  # from the journal
                await bridge.until(lambda: len(bridge.acks) == 2)  # the redelivery
            assert replayed == before
            await second.reply(replayed, "sorry for the wait")
            with trio.fail_after(STEP):
                await bridge.until(lambda: len(bridge.delivered) == 1)
            await trio.sleep(1)
            assert second.routed_so_far() == []
            assert second.health.journal_backlog == 0
    assert bridge.sent_texts(user_jid(ALICE)) == ["sorry for the wait"]
