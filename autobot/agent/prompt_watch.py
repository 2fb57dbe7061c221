"""`PromptWatch`: knowing in the event loop, without a disk hop, that no prompt file changed.

The system prompt is read from the workspace root (`AGENTS.md`, `SOUL.md`,
`USER.md`), `memory/MEMORY.md` and `skills/<name>/SKILL.md`. `PromptWatch`
watches those directories with inotify; `drain` (non-blocking: one read of
at most `DRAIN_BYTES`, fine in the event loop's thread) bumps `generation`
on every event that could change the prompt: a prompt file written, its
attributes changed, created, deleted or renamed, anything in `skills/`, a
watched directory moved or deleted. A prompt read after `arm` returned True
stays current for as long as `generation` does not move (an event raised by
a write during the read moves it too).

A command in the sandbox can make events in the workspace root faster than
they can be read. When one read is not the whole story (the kernel dropped
events, or more were queued than one read takes) or more events than
`FLOOD` allows arrive within its interval, the watch stops reading: every
`drain` bumps `generation`, so every turn checks the files (the stat check),
until an interval has passed since the last sign of the flood; then `arm`
replaces the descriptor (the kernel drops whatever the flood left queued)
and the watch vouches for prompts again. `clock` (monotonic seconds, read
by both threads) times that.

`arm` (blocking: call it off the loop) adds the watches and says whether the
watch can be trusted for the prompt about to be read. It cannot, and the
caller must check the files itself, when:
- a prompt file is a symlink (its target's directory is not watched) or has
  several hard links (a write through another name is reported to that
  name's directory only);
- a directory on the way is a symlink, or the kernel refuses a watch (the
  per-user watch limit).

`open` returns None, and the caller checks the files on every turn, when
inotify is missing or the workspace is on a filesystem whose changes may be
made elsewhere (network or FUSE: only `LOCAL_FILESYSTEMS` are trusted).
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from autobot.platform.flood import FloodGauge, FloodPolicy
from autobot.platform.inotify import (
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_MODIFY,
    NAME_EVENTS,
    Inotify,
)
from autobot.platform.mountinfo import parse_mounts

# The fixed prompt files (relative to the workspace; skills come on top).
PROMPT_FILES = ("AGENTS.md", "SOUL.md", "USER.md", "memory/MEMORY.md")
# Names in the workspace root and in `memory/` whose events may change the prompt.
ROOT_PROMPT_NAMES = frozenset({"AGENTS.md", "SOUL.md", "USER.md", "memory", "skills"})
MEMORY_PROMPT_NAMES = frozenset({"MEMORY.md"})
WATCHED_EVENTS = NAME_EVENTS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE
# One drain reads at most this much (~250 events with short names): the work a
# turn does on the event loop's thread, however fast events come.
DRAIN_BYTES = 8 * 1024
# More events than this per second in the prompt directories is a flood:
# checking the files every turn is cheaper than following them.
FLOOD = FloodPolicy(max_events=1024, interval=1.0)
# Filesystems whose every change goes through this kernel, so inotify sees it.
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "overlay", "zfs", "f2fs"}
)


def mount_filesystem(path: str, mountinfo: str) -> str | None:
    """The filesystem type of the mount holding the absolute, resolved `path`,
    from the text of `/proc/self/mountinfo` (the longest mount point that
    contains it); None when no line parses."""
    best: tuple[int, str] | None = None
    for mount in parse_mounts(mountinfo):
        point = mount.point
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), mount.fstype)
    return None if best is None else best[1]


def relevant(directory: str | None, name: str) -> bool:
    """Whether an event about `name` in the watched `directory` (relative to
    the workspace; None when not known yet) may change the prompt."""
    if not name:
        return True  # about the watched directory itself: moved or deleted
    if directory == "":
        return name in ROOT_PROMPT_NAMES
    if directory == "memory":
        return name in MEMORY_PROMPT_NAMES
    return True  # skills/, skills/<name>/, or a watch added by a check still running


@attrs.define(eq=False)
class PromptWatch:
    """The inotify watch of one workspace's prompt directories (see the module docstring).

    `generation`, `drain` and the flood gauge belong to the event loop's
    thread; `arm` runs in a worker thread (one at a time) and alone replaces
    the descriptor after a flood, while `drain` no longer reads it; `close`
    when done.
    """

    workspace: Path
    _inotify: Inotify
    clock: Callable[[], float] = time.monotonic
    generation: int = 0
    _directories: dict[int, str] = attrs.field(factory=dict)  # wd -> relative directory
    _lock: threading.Lock = attrs.field(factory=threading.Lock)
    _gauge: FloodGauge = attrs.field(factory=FloodGauge)
    # Set by `drain` after its last read of a flooded descriptor; cleared by `arm`.
    _flooded: bool = False
    _closed: bool = False

    @classmethod
    def open(
        cls, workspace: Path, clock: Callable[[], float] = time.monotonic
    ) -> PromptWatch | None:
        """A watch on `workspace` (resolved once: a symlinked workspace is
        watched at its target), or None where inotify cannot be trusted (blocking)."""
        try:
            resolved = os.path.realpath(workspace)
            with open("/proc/self/mountinfo") as f:
                kind = mount_filesystem(resolved, f.read())
            if kind not in LOCAL_FILESYSTEMS:
                return None
            return cls(Path(resolved), Inotify.open(), clock)
        except OSError:
            return None

    def arm(self) -> bool:
        """Watch every prompt directory that exists now; True when a prompt read
        after this returns is covered by the watch (blocking). False while a
        flood lasts (see the module docstring)."""
        if self._flooded and not self._reopen():
            return False
        root = os.fspath(self.workspace)
        try:
            skills = [f"skills/{name}" for name in os.listdir(os.path.join(root, "skills"))]
        except (FileNotFoundError, NotADirectoryError):
            skills = []
        except OSError:
            return False
        added: dict[int, str] = {}
        for relative in ["", "memory", "skills", *skills]:
            path = os.path.join(root, relative)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                if relative == "":
                    return False  # no workspace yet: nothing watches its creation
                continue  # its creation is an event on the parent
            if not stat.S_ISDIR(info.st_mode):
                if relative == "" or stat.S_ISLNK(info.st_mode):
                    return False  # a symlinked directory: its target is not watched
                continue  # a plain file named like a directory: read as nothing
            try:
                added[self._inotify.add_watch(path, WATCHED_EVENTS)] = relative
            except OSError:
                return False
        with self._lock:
            self._directories.update(added)
        files = [*PROMPT_FILES, *(f"{relative}/SKILL.md" for relative in skills)]
        return all(_watchable_file(os.path.join(root, relative)) for relative in files)

    def drain(self) -> None:
        """Read one batch of events (at most `DRAIN_BYTES`, never blocks); bump
        `generation` if one may have changed the prompt, or on every call while
        a flood lasts (nothing is read then)."""
        if self._flooded:
            self.generation += 1
            return
        batch = self._inotify.read_batch(DRAIN_BYTES)
        if not batch.events:
            return
        now = self.clock()
        self._gauge = self._gauge.observe(
            FLOOD, now, len(batch.events), overflowed=batch.overflowed
        )
        if self._gauge.flooded(now):
            self.generation += 1
            self._flooded = True  # last: from here on `arm` may replace the descriptor
            return
        with self._lock:
            directories = dict(self._directories)
        for event in batch.events:
            if relevant(directories.get(event.wd), event.name):
                self.generation += 1
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._inotify.close()

    def _reopen(self) -> bool:
        """After a flood, a new descriptor (no watches yet) in place of the flooded
        one; False while the flood lasts, once closed, or where inotify refuses."""
        if self.clock() < self._gauge.calm_at:
            return False
        try:
            fresh = Inotify.open()
        except OSError:
            return False
        with self._lock:
            if self._closed:
                fresh.close()
                return False
            flooded, self._inotify, self._directories = self._inotify, fresh, {}
        self._flooded = False  # after the swap: `drain` reads the new descriptor
        flooded.close()  # the kernel drops its backlog
        return True


def _watchable_file(path: str) -> bool:
    """False for a symlink or a file with several hard links (see the module docstring)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode):
        return False
    return not (stat.S_ISREG(info.st_mode) and info.st_nlink > 1)
