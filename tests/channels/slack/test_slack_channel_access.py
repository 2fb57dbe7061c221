"""Who may talk to the Slack channel, through the shared gate (access, pairing, journal).

Channel-level, at exact virtual times: pairing codes for strangers under
`dm_policy: pairing` (and approval letting them in), the once-an-hour
refusal, a malformed access list stopping the channel with its reason, and
what the router receives for a DM and for a channel mention.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from autobot.channels.pairing import approve_code
from autobot.channels.pairing_store import PairingStore
from autobot.config.schema import DmPolicy
from autobot.logs.records import Level
from autobot.testing.fake_slack import BOT_USER_ID, serve_fake_slack
from autobot.testing.slack_channel import channel_config, run_slack_channel
from autobot.testing.telegram_channel import patient_clock

TEAM = "C0TEAM01"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


async def test_what_the_router_receives(tmp_path: Path, clock: trio.testing.MockClock) -> None:
    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        fake.add_channel(TEAM)
        config = channel_config(fake, allow_from=("U1001",), group_allow_from=(TEAM,))
        async with run_slack_channel(config, fake, bot_dir=tmp_path) as run:
            dm_ts = fake.post_dm(alice, "a &amp; b <c>")
            dm = await run.routed.receive()
            mention_ts = fake.post_in_channel(alice, TEAM, f"<@{BOT_USER_ID}> status")
            mention = await run.routed.receive()
    assert (dm.chat_id, dm.sender_id, dm.content, dm.message_id) == (
        alice.dm,
        "U1001",
        "a &amp; b <c>",  # as the person typed it
        dm_ts,
    )
    assert (dm.is_group, dm.thread_id, dm.journal_id) == (False, None, "1")
    assert (mention.chat_id, mention.is_group, mention.addressed) == (TEAM, True, True)
    assert mention.content == f"<@{BOT_USER_ID}> status"
    assert mention.thread_id == mention_ts  # answered in a thread under the message


async def test_pairing_gives_a_stranger_a_code_and_approval_lets_them_in(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        bob = fake.add_user("U1002", "bob")
        config = channel_config(fake, allow_from=(), dm_policy=DmPolicy.PAIRING)
        async with run_slack_channel(config, fake, bot_dir=tmp_path, wall_clock=time.time) as run:
            fake.post_dm(bob, "hello?")
            reply = await fake.next_message(bob.dm)
            [code] = re.findall(r"autobot pairing approve slack (\S+)", reply.text)
            assert run.routed_so_far() == []
            with PairingStore(tmp_path) as store:
                store.transact(
                    lambda book: approve_code(book, channel="slack", code=code, now=time.time())
                )
            fake.post_dm(bob, "now?")
            message = await run.routed.receive()
    assert message.content == "now?" and message.sender_id == "U1002"
    assert run.logged(Level.INFO, "pairing code issued")


async def test_a_refused_sender_is_told_once_an_hour(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        bob = fake.add_user("U1002", "bob")
        async with run_slack_channel(
            channel_config(fake, allow_from=("U1001",)), fake, bot_dir=tmp_path
        ) as run:
            for text in ("one", "two", "three"):
                fake.post_dm(bob, text)
            await run.settled()
            await fake.next_message(bob.dm)
            clock.jump(3600)  # an hour later (virtual time, at once)
            fake.post_dm(bob, "four")
            await fake.next_message(bob.dm)
            await run.settled()
    assert len(fake.messages_in(bob.dm)) == 2
    assert run.health.denied == 4 and run.health.messages_in == 0
    assert len(run.logged(Level.WARN, "ACCESS DENIED")) == 4


async def test_entries_that_can_never_match_stop_the_channel(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        config = channel_config(fake, allow_from=("@alice",))
        async with run_slack_channel(config, fake, bot_dir=tmp_path) as run:
            await run.until_logged(Level.ERROR, "slack channel stopped")
    assert run.health.stopped
    assert "looks like a username" in run.health.reason
    assert fake.calls == []  # not even auth.test


async def test_a_token_in_the_wrong_key_stops_the_channel_without_showing_it(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_slack() as fake:
        config = channel_config(fake, allow_from=("U1001",))
        swapped = attrs.evolve(config, bot_token=config.app_token, app_token=config.bot_token)
        async with run_slack_channel(swapped, fake, bot_dir=tmp_path) as run:
            await run.until_logged(Level.ERROR, "slack channel stopped")
    assert (
        run.health.reason == "channels.slack.bot_token is not a Slack token starting with 'xoxb-'"
    )
    assert fake.app_token not in repr(run.records()) and fake.calls == []
