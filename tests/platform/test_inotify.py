"""The inotify binding on a real kernel queue: one bounded read per call, never a drain."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.platform.inotify import (
    IN_CREATE,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    MIN_READ_BYTES,
    NAME_EVENTS,
    Event,
    EventBatch,
    Inotify,
)

NAME = "ten-chars!"  # one record: 16-byte header + the name padded to 16 bytes with its NUL
RECORD_BYTES = 32


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Inotify, Path]]:
    inotify = Inotify.open()
    inotify.add_watch(str(tmp_path), NAME_EVENTS)
    try:
        yield inotify, tmp_path
    finally:
        inotify.close()


def rename_back_and_forth(directory: Path, times: int) -> None:
    """1 + 4 * `times` events (a create, then two moves per rename), each one
    `RECORD_BYTES` long."""
    (directory / NAME).touch()
    other = directory / NAME.upper()
    for _ in range(times):
        os.rename(directory / NAME, other)
        os.rename(other, directory / NAME)


def test_one_call_reads_at_most_max_bytes_and_says_more_are_queued(
    watched: tuple[Inotify, Path],
) -> None:
    inotify, directory = watched
    rename_back_and_forth(directory, 50)  # 1 create + 200 moves
    queued = inotify.pending_bytes()
    assert queued == 201 * RECORD_BYTES
    batch = inotify.read_batch(1024)
    assert len(batch.events) == 1024 // RECORD_BYTES and batch.more and batch.overflowed
    assert batch.events[0] == Event(1, IN_CREATE, NAME)
    assert inotify.pending_bytes() == queued - 1024


def test_batches_take_every_event_once_then_nothing(watched: tuple[Inotify, Path]) -> None:
    inotify, directory = watched
    rename_back_and_forth(directory, 50)
    batches = []
    while (batch := inotify.read_batch(4096)).events:
        batches.append(batch)
    events = [event for batch in batches for event in batch.events]
    assert len(events) == 201 and len(batches) == 2  # 128 + 73 records
    assert [batch.more for batch in batches] == [True, False]
    assert [e.mask for e in events[1:3]] == [IN_MOVED_FROM, IN_MOVED_TO]
    assert inotify.read_batch(4096) == EventBatch((), more=False)
    assert inotify.pending_bytes() == 0


def test_a_buffer_too_small_for_one_event_is_refused_and_reads_nothing(
    watched: tuple[Inotify, Path],
) -> None:
    inotify, directory = watched
    rename_back_and_forth(directory, 1)
    with pytest.raises(ValueError) as refused:
        inotify.read_batch(MIN_READ_BYTES - 1)
    assert str(refused.value) == "an inotify read needs at least 272 bytes, got 271"
    assert inotify.pending_bytes() == 5 * RECORD_BYTES


def test_a_kernel_overflow_is_reported_by_the_batch_that_reads_it(
    watched: tuple[Inotify, Path],
) -> None:
    inotify, directory = watched
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    rename_back_and_forth(directory, limit // 4 + 10)  # more events than the queue holds
    last = None
    while (batch := inotify.read_batch(64 * 1024)).events:
        last = batch
    assert last is not None and not last.more
    assert last.events[-1] == Event(-1, IN_Q_OVERFLOW, "")
    assert last.overflowed


@pytest.mark.parametrize(
    ("batch", "overflowed"),
    [
        (EventBatch((Event(1, IN_CREATE, "a"),), more=False), False),
        (EventBatch((Event(1, IN_CREATE, "a"),), more=True), True),
        (EventBatch((Event(1, IN_CREATE, "a"), Event(-1, IN_Q_OVERFLOW, "")), more=False), True),
        (EventBatch((), more=False), False),
    ],
)
def test_overflowed_means_this_batch_is_not_the_whole_story(
    batch: EventBatch, overflowed: bool
) -> None:
    assert batch.overflowed is overflowed


def test_close_twice_never_closes_a_reused_number(tmp_path: Path) -> None:
    inotify = Inotify.open()
    fd = inotify.fd
    inotify.close()
    reused = os.open(tmp_path, os.O_RDONLY)  # the kernel hands out the lowest free number
    try:
        assert reused == fd
        inotify.close()
        os.fstat(reused)  # still open
    finally:
        os.close(reused)
    assert inotify.fd == -1
