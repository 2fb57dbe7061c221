"""EnvMaskIndex under an event flood: bounded reads, paced walks, never a missed dotenv.

Plain sync tests on real directories and a real inotify queue. The wall
clock and the CPU clock are injected: every directory a walk lists costs
exactly `LISTING` seconds of both, so walk costs and pacing are exact.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from autobot.platform.inotify import EventBatch, Inotify
from autobot.sandbox import env_index
from autobot.sandbox.env_index import FLOOD, READ_BYTES, WALK_REST, EnvMaskIndex, EnvScan
from autobot.sandbox.masks import EnvMask, find_env_masks

START = 1000.0
LISTING = 0.125  # seconds of wall and CPU time per directory listed
WALK = 3 * LISTING  # the workspace below has three directories
NAME = "ten-chars!"  # 32 bytes per event record


@attrs.define
class Clocks:
    now: float = START
    cpu: float = 0.0
    listing: float = LISTING


@attrs.define
class Flooded:
    index: EnvMaskIndex
    clocks: Clocks
    reads: list[EventBatch]  # every batch the index read, in order
    listings: list[str]

    @property
    def root(self) -> Path:
        return self.index.workspace

    def burst(self, renames: int = 150) -> None:
        """4 events per rename back and forth: 150 of them are more than one read takes."""
        here, there = self.root / "flood" / NAME, self.root / "flood" / NAME.upper()
        for _ in range(renames):
            os.rename(here, there)
            os.rename(there, here)

    def scan_now(self) -> EnvScan:
        """What the pool does: refresh, and wait until the walk is allowed when told to."""
        while (scan := self.index.refresh()) is None:
            assert self.index.walk_allowed_at > self.clocks.now
            self.clocks.now = self.index.walk_allowed_at
        return scan


@pytest.fixture
def flooded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flooded]:
    (tmp_path / ".env").write_text("A=1")
    (tmp_path / "src").mkdir()
    (tmp_path / "flood").mkdir()
    (tmp_path / "flood" / NAME).write_text("x")
    clocks = Clocks()
    reads: list[EventBatch] = []
    listings: list[str] = []
    real_list, real_read = env_index.list_directory, Inotify.read_batch

    def costly_list(workspace, relpath, **kwargs):  # type: ignore[no-untyped-def]
        clocks.now += clocks.listing
        clocks.cpu += clocks.listing
        listings.append(relpath)
        return real_list(workspace, relpath, **kwargs)

    def recorded_read(self: Inotify, max_bytes: int) -> EventBatch:
        assert max_bytes == READ_BYTES
        batch = real_read(self, max_bytes)
        reads.append(batch)
        return batch

    monkeypatch.setattr(env_index, "list_directory", costly_list)
    monkeypatch.setattr(Inotify, "read_batch", recorded_read)
    index = EnvMaskIndex(tmp_path, clock=lambda: clocks.now, cpu_clock=lambda: clocks.cpu)
    index.refresh()
    assert clocks.now == START + WALK
    listings.clear()
    try:
        yield Flooded(index, clocks, reads, listings)
    finally:
        index.close()


def test_a_burst_beyond_one_read_is_not_read_on_but_walked(flooded: Flooded) -> None:
    (flooded.root / "src" / "late.env").write_text("B=2")
    flooded.burst()
    scan = flooded.index.refresh()
    assert scan is not None and EnvMask("src/late.env", False) in scan.masks
    assert scan.masks == find_env_masks(flooded.root)
    assert len(flooded.reads) == 1 and flooded.reads[0].more  # one bounded read, then the walk
    assert len(flooded.reads[0].events) == READ_BYTES // 32
    assert flooded.index.rebuilds == 2 and sorted(flooded.listings) == [".", "flood", "src"]


def test_walks_after_lost_events_are_paced_on_their_cpu_cost(flooded: Flooded) -> None:
    index, clocks = flooded.index, flooded.clocks
    flooded.burst()
    assert index.refresh() is not None  # the first walk after lost events runs at once
    walked_at = clocks.now
    assert walked_at == START + 2 * WALK and index.rebuilds == 2
    assert index.walk_allowed_at == walked_at + WALK_REST * WALK

    (flooded.root / "src" / "later.env").write_text("C=3")
    flooded.burst()
    assert index.refresh() is None  # too soon: the caller waits, nothing walks
    clocks.now = index.walk_allowed_at - 0.25
    assert index.refresh() is None and index.cached_if_quiet() is None
    assert index.rebuilds == 2 and flooded.reads == flooded.reads[:1]  # nothing more read
    clocks.now = index.walk_allowed_at
    scan = index.refresh()
    assert scan is not None and EnvMask("src/later.env", False) in scan.masks
    assert index.rebuilds == 3


def test_the_flooded_queue_is_kept_while_the_flood_lasts_then_replaced(flooded: Flooded) -> None:
    index, clocks = flooded.index, flooded.clocks
    flooded_at = clocks.now
    first = index._inotify
    flooded.burst()
    index.refresh()  # reads one batch: a flood until flooded_at + FLOOD.interval
    assert index._inotify is first  # closing it now would wait for the kernel on every walk
    assert index.cached_if_quiet() is None  # its queue is never trusted again

    clocks.now = flooded_at + FLOOD.interval + WALK_REST * WALK  # calm, and the walk allowed
    scan = flooded.scan_now()
    assert index._inotify is not first and index.rebuilds == 3
    assert index.cached_if_quiet() is scan  # a new queue, nothing in it: trusted
    assert len(flooded.reads) == 1
    (flooded.root / "src" / "quiet.env").write_text("D=4")  # followed again: one re-listing
    flooded.listings.clear()
    after = index.refresh()
    assert after is not None and EnvMask("src/quiet.env", False) in after.masks
    assert flooded.listings == ["src"] and index.rebuilds == 3


def test_waiting_callers_share_the_walk_that_began_after_they_asked(flooded: Flooded) -> None:
    index, clocks = flooded.index, flooded.clocks
    flooded.burst()
    asked_at = clocks.now
    shared = index.refresh(asked_at)
    assert shared is not None and index.rebuilds == 2
    flooded.burst()
    assert index.refresh(asked_at) is shared  # the walk began after this caller asked
    assert index.rebuilds == 2 and len(flooded.reads) == 1
    assert index.refresh(clocks.now) is None  # asked after that walk: needs the next one


def test_a_dotenv_made_during_a_sustained_flood_is_in_every_scan_handed_out(
    flooded: Flooded,
) -> None:
    index, clocks = flooded.index, flooded.clocks
    made: set[EnvMask] = {EnvMask(".env", False)}
    for round_ in range(12):
        flooded.burst()
        name = f"src/round{round_}.env"
        (flooded.root / name).write_text("E=5")
        made.add(EnvMask(name, False))
        scan = flooded.scan_now()
        assert made <= scan.masks
        clocks.now += 0.25  # the next lease comes soon after
    # One read per flood interval at most; every other refresh walked, paced.
    elapsed = clocks.now - START
    assert len(flooded.reads) <= elapsed / FLOOD.interval + 1, (len(flooded.reads), elapsed)
    assert index.rebuilds == 13


def test_more_events_per_interval_than_the_flood_limit_stops_following_them(
    flooded: Flooded,
) -> None:
    index, clocks = flooded.index, flooded.clocks
    clocks.listing = 0.0  # all at one moment
    per_round = 125  # 500 events: each round fits one read
    rounds = FLOOD.max_events // (4 * per_round) + 1
    for _ in range(rounds - 1):
        flooded.burst(per_round)
        assert index.refresh() is not None
    assert index.rebuilds == 1  # followed: re-listed `flood` each time
    assert flooded.listings == ["flood"] * (rounds - 1)
    assert clocks.now < START + WALK + FLOOD.interval  # all within one interval
    flooded.burst(per_round)
    assert index.refresh() is not None and index.rebuilds == 2  # over the limit: walked
    assert not any(batch.more for batch in flooded.reads)


def test_the_same_events_spread_over_time_are_followed(flooded: Flooded) -> None:
    index, clocks = flooded.index, flooded.clocks
    for _ in range(FLOOD.max_events // 500 + 3):
        flooded.burst(125)
        assert index.refresh() is not None
        clocks.now += FLOOD.interval
    assert index.rebuilds == 1


def test_a_renaming_loop_is_walked_paced_with_the_same_instance(flooded: Flooded) -> None:
    """A directory renamed again and again (slower than a flood: every event is
    read): each refresh after a rename walks, paced, and keeps its instance
    (its queue lost nothing; closing one waits for the kernel)."""
    index, clocks = flooded.index, flooded.clocks
    first = index._inotify
    (flooded.root / "src").rename(flooded.root / "lib")
    assert index.refresh() is not None and index.rebuilds == 2  # at once: the first one
    (flooded.root / "lib").rename(flooded.root / "src")
    assert index.refresh() is None  # paced: WALK_REST times its cost
    assert index.walk_allowed_at == clocks.now + WALK_REST * WALK
    scan = flooded.scan_now()
    assert index.rebuilds == 3 and index._inotify is first
    assert scan.masks == find_env_masks(flooded.root)
    (flooded.root / "src" / "watched.env").write_text("F=6")  # the re-added watch sees it
    flooded.listings.clear()
    after = index.refresh()
    assert after is not None and EnvMask("src/watched.env", False) in after.masks
    assert flooded.listings == ["src"] and index.rebuilds == 3
