"""The bot's event queue: registered, saved, acknowledged, resumed, and re-registered when lost."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import httpx
import pytest
import trio
import trio.testing

from autobot.channels.zulip.api import NetworkTrouble, ZulipApi
from autobot.channels.zulip.queue import (
    EventQueue,
    QueueFile,
    QueueState,
    decode_state,
    encode_state,
)
from autobot.config.secret import Secret
from autobot.logs.records import Level, LogRecord
from autobot.testing.fake_zulip import FakeZulip, serve_fake_zulip
from autobot.testing.logs import capture_logger, drain
from autobot.testing.telegram_channel import patient_clock

STATE = QueueState(
    queue_id="1767225600:1",
    last_event_id=41,
    longpoll_seconds=90.0,
    max_message_length=10_000,
    saved_at=1_767_225_600.5,
)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


class WallClock:
    """A settable wall clock (seconds since the epoch)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@attrs.define
class Opened:
    queue: EventQueue
    file: QueueFile
    wall: WallClock
    log: trio.MemoryReceiveChannel[LogRecord]

    def warnings(self) -> list[LogRecord]:
        return [r for r in drain(self.log) if r.level is Level.WARN]


@asynccontextmanager
async def event_queue(fake: FakeZulip, bot_dir: Path) -> AsyncIterator[Opened]:
    logger, log = capture_logger()
    wall = WallClock(1_767_225_600.0)
    async with httpx.AsyncClient(trust_env=False) as client:
        api = ZulipApi(
            client=client, site=fake.base_url, email=fake.bot.email, api_key=Secret(fake.api_key)
        )
        file = QueueFile.in_bot(bot_dir)
        yield Opened(
            EventQueue(api=api, file=file, logger=logger, wall_clock=wall), file, wall, log
        )


def test_the_saved_state_round_trips_and_anything_else_is_refused() -> None:
    assert decode_state(encode_state(STATE)) == STATE
    for broken in (
        b"",
        b"[]",
        b'{"queue_id": "q"}',
        encode_state(STATE).replace(b"41", b"-2"),
        encode_state(STATE).replace(b"10000", b"5"),
        encode_state(STATE).replace(b'"1767225600:1"', b'""'),
        encode_state(STATE).replace(b"}", b', "extra": 1}'),
    ):
        with pytest.raises(ValueError):
            decode_state(broken)


def test_the_queue_file_is_private_and_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    file = QueueFile.in_bot(tmp_path)
    assert file.load() is None
    file.save(STATE)
    assert file.load() == STATE
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(file.path.parent.stat().st_mode) == 0o700
    file.path.unlink()
    os.mkfifo(file.path)
    with pytest.raises(ValueError, match="FIFO"):
        file.load()  # never blocks on a FIFO
    file.path.unlink()
    file.path.write_bytes(b"x" * 5000)
    with pytest.raises(ValueError, match="larger"):
        file.load()


async def test_open_registers_and_saves_then_acknowledgements_are_saved(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip(max_message_length=5000) as fake, event_queue(fake, tmp_path) as q:
        await q.queue.open()
        assert q.queue.max_message_length == 5000
        saved = q.file.load()
        assert saved is not None and saved.queue_id in fake.queues and saved.last_event_id == -1
        assert saved.saved_at == q.wall.now
        alice = fake.add_user("Alice", "alice@example.com")
        fake.send_direct(alice, "one")
        [event] = await q.queue.poll()
        q.wall.now += 30
        await q.queue.acknowledge(event["id"])
        assert q.file.load() == attrs.evolve(saved, last_event_id=0, saved_at=q.wall.now)
        await q.queue.acknowledge(0)  # nothing new: nothing written
        fake.send_direct(alice, "two")
        [second] = await q.queue.poll()
        assert second["message"]["content"] == "two"
        assert fake.registered == 1


async def test_a_saved_queue_is_resumed_without_registering(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip() as fake:
        async with event_queue(fake, tmp_path) as first:
            await first.queue.open()
        alice = fake.add_user("Alice", "alice@example.com")
        fake.send_direct(alice, "sent while the gateway was down")
        async with event_queue(fake, tmp_path) as second:
            await second.queue.open()
            [event] = await second.queue.poll()
        assert event["message"]["content"] == "sent while the gateway was down"
        assert fake.registered == 1


async def test_an_expired_queue_is_replaced_and_the_gap_is_logged(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip() as fake, event_queue(fake, tmp_path) as q:
        await q.queue.open()
        alice = fake.add_user("Alice", "alice@example.com")
        fake.send_direct(alice, "one")
        [event] = await q.queue.poll()
        await q.queue.acknowledge(event["id"])
        old = q.queue.state
        assert old is not None
        fake.expire_queues()
        q.wall.now += 754.4
        assert await q.queue.poll() == []
        [warning] = q.warnings()
        assert warning.message == (
            "zulip: the event queue is gone; messages sent in the last 754 s may have been"
            " missed; registering a new queue"
        )
        fields = dict(warning.fields)
        assert (fields["queue_id"], fields["last_event_id"]) == (old.queue_id, "0")
        assert "BAD_EVENT_QUEUE_ID" in fields["error"]
        fake.send_direct(alice, "two")  # in the gap: no queue holds it
        [heartbeat] = await q.queue.poll()  # a new queue
        assert heartbeat["type"] == "heartbeat" and fake.registered == 2
        await q.queue.acknowledge(heartbeat["id"])
        fake.send_direct(alice, "three")
        [event] = await q.queue.poll()
        assert event["message"]["content"] == "three"
        assert q.file.load() is not None and q.file.load().queue_id != old.queue_id  # type: ignore[union-attr]


async def test_a_queue_lost_before_its_first_poll_is_network_trouble(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip() as fake, event_queue(fake, tmp_path) as q:
        await q.queue.open()
        fake.expire_queues()
        with pytest.raises(NetworkTrouble, match="lost at once"):
            await q.queue.poll()
        assert len(q.warnings()) == 1
        fake.send_direct(fake.add_user("Alice", "alice@example.com"), "x")
        assert fake.registered == 1
        # the caller backs off, then polls: a new queue, which works
        events = await q.queue.poll()
        assert fake.registered == 2 and events[0]["type"] == "heartbeat"


async def test_a_resumed_queue_that_expired_meanwhile_names_the_downtime(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip() as fake:
        QueueFile.in_bot(tmp_path).save(STATE)  # a queue this server never had
        async with event_queue(fake, tmp_path) as q:
            q.wall.now = STATE.saved_at + 3600
            await q.queue.open()
            assert fake.registered == 0
            assert await q.queue.poll() == []  # lost, but not "at once": no backoff
            [warning] = q.warnings()
            assert "in the last 3600 s may have been missed" in warning.message
            await q.queue.poll()
            assert fake.registered == 1


async def test_an_unusable_saved_file_is_a_warning_and_a_new_queue(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with serve_fake_zulip() as fake, event_queue(fake, tmp_path) as q:
        q.file.path.parent.mkdir(parents=True)
        q.file.path.write_text('{"queue_id": 3}')
        await q.queue.open()
        [warning] = q.warnings()
        assert warning.message == "zulip: saved event queue unusable; registering a new one"
        assert fake.registered == 1
