"""The Zulip channel in conversation: who is heard, where replies go, files, restarts.

The real channel under the channel supervisor, against the loopback Zulip
fake; the test plays the session router (`harness`).
"""

from __future__ import annotations

import random
import stat
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from autobot.channels.base import AttachmentKind, OutboundMessage
from autobot.config.schema import DmPolicy
from autobot.logs.records import ACCESS_DENIED, Level
from autobot.testing.fake_zulip import FakeZulip, serve_fake_zulip
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.zulip.faults import Fault

from .harness import ZulipRun, run_zulip_channel, zulip_config

ALICE_ID, BOB_ID, MALLORY_ID = 101, 102, 103


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


def people(fake: FakeZulip) -> None:
    fake.add_user("Alice", "Alice@Example.com", user_id=ALICE_ID)
    fake.add_user("Bob", "bob@example.com", user_id=BOB_ID)
    fake.add_user("Mallory", "mallory@example.com", user_id=MALLORY_ID)


@pytest.fixture
async def fake() -> AsyncIterator[FakeZulip]:
    """The Zulip fake, with Alice, Bob and Mallory."""
    async with serve_fake_zulip() as served:
        people(served)
        yield served


def open_to_all(
    fake: FakeZulip, tmp_path: Path, **options: Any
) -> AbstractAsyncContextManager[ZulipRun]:
    """The channel with `allow_from: ["*"]` (`options`: `run_zulip_channel`'s)."""
    return run_zulip_channel(
        zulip_config(fake, allow_from=("*",)), fake, bot_dir=tmp_path, **options
    )


async def test_direct_messages_from_allowed_senders_by_id_or_email(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice, bob = fake.users[ALICE_ID], fake.users[BOB_ID]
    config = zulip_config(fake, allow_from=(str(ALICE_ID), "BOB@example.COM"))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        sent = fake.send_direct(alice, "hello from alice")
        fake.send_direct(bob, "hello from bob")
        first, second = await run.routed.receive(), await run.routed.receive()
        assert (first.chat_id, first.sender_id, first.content) == (
            "101",
            "101",
            "hello from alice",
        )
        assert (first.message_id, first.sender_name) == (str(sent["id"]), "Alice")
        assert not first.is_group and first.thread_id is None
        assert (second.chat_id, second.content) == ("102", "hello from bob")
        await run.reply(first, "Hi Alice!")
        reply = await fake.next_direct(alice)
        assert reply.content == "Hi Alice!"
        await run.settled()  # the bot's own message came back as an event: ignored
        assert run.routed_so_far() == []
        await run.backlog_is(1)  # Bob's is not answered yet
        assert run.health.messages_in == 2 and run.health.messages_out == 1


async def test_a_stranger_is_told_their_id_once_an_hour_and_never_heard(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    mallory = fake.users[MALLORY_ID]
    async with run_zulip_channel(
        zulip_config(fake, allow_from=(str(ALICE_ID),)), fake, bot_dir=tmp_path
    ) as run:
        fake.send_direct(mallory, "let me in")
        denial = await fake.next_direct(mallory)
        assert denial.content == (
            "Sorry, this bot does not talk to you. Your zulip id is 103: its owner can add"
            " it to allow_from."
        )
        fake.send_direct(mallory, "please")
        await run.settled()
        assert len(fake.direct_to(mallory)) == 1  # one reply per hour
        assert run.routed_so_far() == [] and run.health.denied == 2
        records = run.logged(Level.WARN, ACCESS_DENIED)
        assert [dict(r.fields)["reason"] for r in records] == [
            "sender 103 is not in allow_from",
            "sender 103 is not in allow_from; reply suppressed (one per hour)",
        ]
        assert all("let me in" not in r.message + str(r.fields) for r in run.records())


async def test_pairing_gives_a_stranger_a_code(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    config = zulip_config(fake, dm_policy=DmPolicy.PAIRING)
    async with run_zulip_channel(config, fake, bot_dir=tmp_path, wall_clock=time.time) as run:
        fake.send_direct(fake.users[MALLORY_ID], "hi")
        reply = await fake.next_direct(fake.users[MALLORY_ID])
        assert reply.content.startswith("Your pairing code is ")
        assert "autobot pairing approve zulip " in reply.content
        assert run.routed_so_far() == []


async def test_streams_mentions_and_where_replies_go(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice, mallory = fake.users[ALICE_ID], fake.users[MALLORY_ID]
    general = fake.add_stream("General")
    random_stream = fake.add_stream("random")
    config = zulip_config(fake, allow_from=(str(ALICE_ID),), streams=("general",))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        fake.send_stream(alice, general, "lunch plans", "no mention here")
        fake.send_stream(alice, random_stream, "x", "@**Autobot** over here?")
        fake.send_stream(mallory, general, "lunch plans", "@**Autobot** obey me")
        fake.send_stream(alice, general, "lunch plans", "@_**Autobot** silently")
        posted = fake.send_stream(alice, general, "lunch plans", "@**Autobot** where?")
        message = await run.routed.receive()
        await run.settled()
        assert run.routed_so_far() == []
        assert message.content == "@**Autobot** where?"
        assert (message.chat_id, message.thread_id) == (
            f"stream:{general.id}:lunch%20plans",
            "lunch plans",
        )
        assert message.is_group and message.addressed
        assert message.message_id == str(posted["id"])
        reasons = [dict(r.fields)["reason"] for r in run.logged(Level.WARN, ACCESS_DENIED)]
        assert reasons == [
            f"stream {random_stream.id} is not in channels.zulip.streams",
            f"sender {MALLORY_ID} is not allowed (in group stream:{general.id}:lunch%20plans)",
        ]
        assert fake.sent == []  # nothing is ever said to a refusal in a stream
        await run.reply(message, "At noon.")
        reply = await fake.next_in_topic(general, "lunch plans")
        assert reply.content == "At noon." and reply.kind == "stream"
        # a later message of the session (the message tool, a cron job) has no thread
        await run.outbox.send(
            OutboundMessage(channel="zulip", chat_id=message.chat_id, content="Reminder!")
        )
        later = await fake.next_in_topic(general, "lunch plans")
        assert later.content == "Reminder!"


async def test_group_direct_messages_are_not_answered(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice, bob = fake.users[ALICE_ID], fake.users[BOB_ID]
    async with open_to_all(fake, tmp_path) as run:
        fake.send_direct(alice, "@**Autobot** hi both", also_to=[bob])
        await run.settled()
        assert run.routed_so_far() == [] and fake.sent == []
        [note] = run.logged(Level.INFO, "group direct message")
        assert dict(note.fields)["sender_id"] == str(ALICE_ID)


async def test_a_long_reply_is_sent_in_chunks_within_the_servers_limit(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip(max_message_length=400) as fake:
        people(fake)
        alice = fake.users[ALICE_ID]
        async with open_to_all(fake, tmp_path) as run:
            fake.send_direct(alice, "write a lot")
            message = await run.routed.receive()
            code = "\n".join(f"print({i})" for i in range(60))
            text = "Intro.\n\n```python\n" + code + "\n```\n\n" + " ".join(["word"] * 200)
            await run.reply(message, text)
            await run.backlog_is(0)
            parts = [m.content for m in fake.direct_to(alice)]
            assert len(parts) >= 4 and all(len(part) <= 400 for part in parts)
            code_parts = [part for part in parts if "print(" in part]
            assert all(p.startswith("```python\n") for p in code_parts)
            assert all(p.count("```") == 2 for p in code_parts)
            printed = [line for part in code_parts for line in part.split("\n") if "print" in line]
            assert printed == code.split("\n")
            assert run.health.send_failures == 0


async def test_mentions_in_a_reply_ping_nobody(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    async with open_to_all(fake, tmp_path) as run:
        fake.send_direct(alice, "ping everyone please")
        message = await run.routed.receive()
        await run.reply(message, "Sure: @**all** @**everyone** @_*admins* @**Bob|102**")
        reply = await fake.next_direct(alice)
        assert "@**" not in reply.content and "@_*" not in reply.content
        assert reply.content.replace("\u200b", "") == (
            "Sure: @**all** @**everyone** @_*admins* @**Bob|102**"
        )
        echoed = fake.messages[-1]
        assert echoed["id"] == reply.id
        assert "@**" not in echoed["content"]


async def test_uploads_are_saved_to_the_inbox_with_the_link_kept(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    report = fake.add_upload(b"%PDF-1.7 quarterly", "report.pdf")
    photo = fake.add_upload(b"\x89PNG big" * 100, "photo.png")
    script = fake.add_upload(b"#!/bin/sh", "run.sh")
    config = zulip_config(fake, allow_from=("*",), max_file_bytes=200)
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        text = f"see [report.pdf]({report}) and [photo.png]({photo}) and [run.sh]({script})"
        sent = fake.send_direct(alice, text)
        message = await run.routed.receive()
        assert message.content == text
        [pdf, sh] = message.attachments
        mid = sent["id"]
        assert (pdf.kind, pdf.path, pdf.mime_type) == (
            AttachmentKind.DOCUMENT,
            f"inbox/zulip-{mid}-1.pdf",
            "application/pdf",
        )
        assert sh.path == f"inbox/zulip-{mid}-3.bin"  # not on the extension allowlist
        saved = run.workspace / pdf.path
        assert saved.read_bytes() == b"%PDF-1.7 quarterly"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        [warning] = run.logged(Level.WARN, "zulip upload not saved")
        assert dict(warning.fields)["upload"] == "2"
        assert "larger than 200 bytes" in dict(warning.fields)["reason"]


async def test_a_transient_download_failure_retries_the_whole_batch_once_journaled_nothing(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    path = fake.add_upload(b"notes", "notes.txt")
    async with open_to_all(fake, tmp_path, rng=random.Random(1)) as run:
        fake.fail_next("download", Fault.server_error(503))
        fake.send_direct(alice, "first")
        fake.send_direct(alice, f"[notes.txt]({path})")
        first, second = await run.routed.receive(), await run.routed.receive()
        await run.settled()
        assert run.routed_so_far() == []  # each once: the journal dropped nothing twice
        assert first.content == "first" and len(second.attachments) == 1
        assert len(fake.calls_to("download")) == 2
        assert [d.served for d in fake.downloads] == [True]
        assert run.health.reconnects == 1


async def test_a_restart_replays_what_has_no_reply_and_resumes_the_queue(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    async with open_to_all(fake, tmp_path) as run:
        fake.send_direct(alice, "unanswered")
        await run.routed.receive()
        await run.settled()
    fake.send_direct(alice, "sent while stopped")
    async with open_to_all(fake, tmp_path) as run:
        replayed = await run.routed.receive()
        resumed = await run.routed.receive()
        assert (replayed.content, resumed.content) == ("unanswered", "sent while stopped")
        assert replayed.journal_id is not None
        assert len(run.logged(Level.WARN, "replaying unanswered zulip messages")) == 1
        await run.settled()
        assert fake.registered == 1  # the same queue, resumed


async def test_refusals_when_sending(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    async with open_to_all(fake, tmp_path, rng=random.Random(2)) as run:
        fake.send_direct(alice, "one")
        message = await run.routed.receive()
        # a chat id that is no Zulip place (the message tool, asked to write elsewhere)
        await run.outbox.send(
            OutboundMessage(channel="zulip", chat_id="telegram:1", content="x", final=True)
        )
        # a stream that was deleted since: refused for good, the entry is done
        fake.fail_next(
            "messages", Fault.error(400, "STREAM_DOES_NOT_EXIST", "Channel does not exist")
        )
        await run.reply(message, "lost")
        await run.backlog_is(0)
        errors = run.logged(Level.ERROR, "zulip message not delivered")
        assert len(errors) == 2 and "not a Zulip chat id" in dict(errors[0].fields)["error"]
        assert "STREAM_DOES_NOT_EXIST" in dict(errors[1].fields)["error"]
        # five transient failures: the entry stays for a restart to answer
        fake.send_direct(alice, "two")
        second = await run.routed.receive()
        fake.fail_next("messages", Fault.server_error(502), count=5)
        await run.reply(second, "later")
        await fake.until(lambda: len(fake.calls_to("messages")) == 1 + 5)
        await run.settled()
        await run.eventually(lambda: run.health.send_failures == 3)
        await run.backlog_is(1)
        assert fake.direct_to(alice) == []


async def test_a_429_when_sending_waits_exactly_retry_after(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    async with open_to_all(fake, tmp_path) as run:
        fake.send_direct(alice, "hi")
        message = await run.routed.receive()
        fake.fail_next("messages", Fault.rate_limited(2.75))
        await run.reply(message, "answer")
        reply = await fake.next_direct(alice)
        [limited, accepted] = [call.at for call in fake.calls_to("messages")]
        assert accepted - limited == 2.75 and reply.at == accepted
