"""The prompt watch under an event flood: one bounded read, then the stat check
every turn until the flood is over, then the watch again on a new descriptor.

The watch's clock is injected (`clock.now`); the disk runner runs inline and
counts the checks (as in test_agent_prompt_watch.py).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from autobot.agent.context import PromptCache, build_system_prompt
from autobot.agent.prompt_watch import DRAIN_BYTES, FLOOD, PromptWatch
from autobot.platform.inotify import EventBatch, Inotify

START = 500.0
NAME = "ten-chars!"  # an irrelevant name in the workspace root; 32 bytes per event


@attrs.define
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@attrs.define
class CountingRunner:
    calls: int = 0

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        return fn(*args)


@attrs.define
class Flooded:
    cache: PromptCache
    runner: CountingRunner
    clock: Clock
    reads: list[EventBatch]  # every read of the watch's descriptor, empty ones too
    workspace: Path

    @property
    def taken(self) -> list[EventBatch]:
        """The reads that took events."""
        return [batch for batch in self.reads if batch.events]

    @property
    def watch(self) -> PromptWatch:
        assert self.cache._watch is not None
        return self.cache._watch

    async def checks_for_turn(self) -> int:
        """How many checks the next turn costs; asserts its prompt is a fresh build."""
        before = self.runner.calls
        assert await self.cache.current(self.runner) == build_system_prompt(self.workspace)
        return self.runner.calls - before

    def burst(self, renames: int = 70) -> None:
        """4 events per rename back and forth, none about a prompt file; 70 of
        them are more than one drain reads."""
        here, there = self.workspace / NAME, self.workspace / NAME.upper()
        for _ in range(renames):
            os.rename(here, there)
            os.rename(there, here)


@pytest.fixture
async def flooded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Flooded]:
    ws = tmp_path / "workspace"
    (ws / "memory").mkdir(parents=True)
    (ws / "SOUL.md").write_text("Calm and kind.")
    (ws / "memory" / "MEMORY.md").write_text("Alice likes tea.")
    (ws / NAME).write_text("x")
    clock = Clock()
    reads: list[EventBatch] = []
    real_open, real_read = PromptWatch.open.__func__, Inotify.read_batch  # type: ignore[attr-defined]

    def recorded_read(self: Inotify, max_bytes: int) -> EventBatch:
        assert max_bytes == DRAIN_BYTES
        batch = real_read(self, max_bytes)
        reads.append(batch)
        return batch

    monkeypatch.setattr(
        PromptWatch, "open", classmethod(lambda cls, workspace: real_open(cls, workspace, clock))
    )
    monkeypatch.setattr(Inotify, "read_batch", recorded_read)
    cache = PromptCache(ws)
    cache.start_watching()
    try:
        yield Flooded(cache, CountingRunner(), clock, reads, ws.resolve())
    finally:
        cache.stop_watching()


async def test_a_flood_is_read_once_then_every_turn_checks_until_calm(flooded: Flooded) -> None:
    assert await flooded.checks_for_turn() == 1
    assert await flooded.checks_for_turn() == 0  # watched: from memory
    first = flooded.watch._inotify
    flooded.burst()
    reads = len(flooded.reads)
    assert await flooded.checks_for_turn() == 1
    assert len(flooded.reads) == reads + 1  # one bounded read...
    assert flooded.reads[-1].more and len(flooded.reads[-1].events) == DRAIN_BYTES // 32
    for _ in range(3):
        flooded.burst()
        assert await flooded.checks_for_turn() == 1  # the stat check, every turn
    (flooded.workspace / "SOUL.md").write_text("Changed during the flood.")
    assert await flooded.checks_for_turn() == 1
    assert "Changed during the flood." in await flooded.cache.current(flooded.runner)
    assert len(flooded.reads) == reads + 1 and flooded.watch._inotify is first  # ...no more

    flooded.clock.now = START + FLOOD.interval  # an interval after the only sign of flood
    assert await flooded.checks_for_turn() == 1  # re-arms on a new descriptor
    assert flooded.watch._inotify is not first and first.fd == -1
    assert await flooded.checks_for_turn() == 0  # watched again
    (flooded.workspace / "memory" / "MEMORY.md").write_text("Alice likes coffee.")
    assert await flooded.checks_for_turn() == 1  # the new descriptor watches memory/ too
    assert "Alice likes coffee." in await flooded.cache.current(flooded.runner)


async def test_still_flooding_after_the_interval_means_another_interval_of_checks(
    flooded: Flooded,
) -> None:
    await flooded.checks_for_turn()
    flooded.burst()
    assert await flooded.checks_for_turn() == 1
    flooded.clock.now = START + FLOOD.interval
    flooded.burst()  # lands in the old queue, which the re-arm drops
    assert await flooded.checks_for_turn() == 1
    flooded.burst()  # the new queue: one read, a flood again
    flooded.clock.now += 0.5
    assert await flooded.checks_for_turn() == 1
    assert len(flooded.taken) == 2
    assert not flooded.watch.arm()  # refuses to vouch until START + 1.5 + interval
    flooded.clock.now = START + 1.5 + FLOOD.interval
    assert await flooded.checks_for_turn() == 1 and await flooded.checks_for_turn() == 0


async def test_more_events_per_interval_than_the_limit_is_a_flood(flooded: Flooded) -> None:
    await flooded.checks_for_turn()
    per_turn = 62  # 248 events: each turn's drain reads them all
    turns = FLOOD.max_events // (4 * per_turn)
    for _ in range(turns):
        flooded.burst(per_turn)
        assert await flooded.checks_for_turn() == 0  # followed: nothing about the prompt
    assert len(flooded.taken) == turns and not any(batch.more for batch in flooded.reads)
    flooded.burst(per_turn)  # over the limit within one interval
    assert await flooded.checks_for_turn() == 1
    flooded.burst(per_turn)
    assert await flooded.checks_for_turn() == 1
    assert len(flooded.taken) == turns + 1


async def test_the_same_events_spread_over_time_are_followed(flooded: Flooded) -> None:
    await flooded.checks_for_turn()
    for _ in range(FLOOD.max_events // 248 + 3):
        flooded.burst(62)
        assert await flooded.checks_for_turn() == 0
        flooded.clock.now += FLOOD.interval


def test_closing_while_a_check_re_arms_leaks_no_descriptor(tmp_path: Path) -> None:
    """`close` (the router stopping) races `arm` re-opening after a flood in a
    worker thread: whichever wins, every descriptor ends closed."""

    def inotify_descriptors() -> int:
        fds = os.listdir("/proc/self/fd")
        return sum(1 for fd in fds if _readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify")

    (tmp_path / NAME).write_text("x")
    before = inotify_descriptors()
    clock = Clock()
    for _ in range(200):
        watch = PromptWatch.open(tmp_path, clock)
        assert watch is not None and watch.arm()
        for _ in range(70):
            os.rename(tmp_path / NAME, tmp_path / "moved")
            os.rename(tmp_path / "moved", tmp_path / NAME)
        watch.drain()  # a flood: from here on `arm` re-opens once calm
        clock.now += FLOOD.interval
        armer = threading.Thread(target=watch.arm)
        armer.start()
        watch.close()
        armer.join()
        assert inotify_descriptors() == before


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
