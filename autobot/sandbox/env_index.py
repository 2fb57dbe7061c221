"""Keep a workspace's dotenv masks current without walking it on every lease.

A worker's sandbox hides the dotenv entries that existed when it was built
(`masks.py`). Before each lease the pool must know whether one appeared
since, or was replaced: the bind mount hiding `.env` stays on the old inode,
so an editor's atomic save (write a temporary file, rename it over `.env`)
would show the new content to a running sandbox. Walking the workspace for
that costs ~150 ms at 50,000 files, more than a fresh sandbox.

`EnvMaskIndex` lists the tree once and watches every directory with inotify
(any entry created, deleted or renamed in a directory is an event on it,
whoever did it, host or sandbox). `cached_if_quiet` then costs one ioctl
when nothing happened; `refresh` reads one bounded batch of events
(`READ_BYTES`) and re-lists only the directories they name. Without
inotify, or past the watch limit, every refresh walks the tree (the old
behaviour).

A command in the sandbox can make events faster than they can be read. When
the events stop telling what changed (the kernel dropped some, more were
queued than one read takes, more than `FLOOD` allows per interval, or a
directory moved: inotify knows directories by watch, not by path), the index
stops following them and walks the tree again at the next refresh, never
reading faster. After a flood (`FLOOD`) the instance's queue is never
trusted again (the kernel may drop events from a full queue): every refresh
walks, only listing, keeping the instance while the flood lasts (an
interval after its last sign); the first walk after that starts from a new
one and watches again, and the kernel drops the backlog (closing an
instance waits for a kernel grace period, a few milliseconds: once per
flood interval, not per walk).
These walks are paced (`WALK_REST`, on their CPU cost): a refresh returns
None until `walk_allowed_at`, and the caller waits. A dotenv entry is
therefore never missed, and a flood costs the tree walks a bounded share of
a CPU, not a walk per lease in a tight loop.

Each mask carries a version: the entry's identity (device, inode, ctime) and
a generation bumped whenever an event names it, so a replacement is noticed
even if the kernel reuses the inode within one timestamp tick. A sandbox
built from scan A still hides everything of scan B iff B's (mask, version)
pairs are a subset of A's (`EnvScan.covers`).

`clock` is a monotonic clock in seconds that any thread may read (the pool
passes trio's, so it can sleep until `walk_allowed_at`); `cpu_clock` the
calling thread's CPU time (a walk runs in one call). Blocking I/O, not
thread-safe: call `refresh` through `trio.to_thread` with a
`CapacityLimiter(1)`; `cached_if_quiet` never blocks and may run in the event
loop's thread while no refresh runs. `close` when done.
"""

from __future__ import annotations

import errno
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import attrs

from autobot.platform.flood import FloodGauge, FloodPolicy, next_walk_at
from autobot.platform.inotify import (
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Event,
    Inotify,
)
from autobot.sandbox.masks import EnvMask, Identity, Listing, join, list_directory
from autobot.security.protected_files import FileId

Version = tuple[int, int, int, int]  # st_dev, st_ino, st_ctime_ns, generation
_WATCH_LIMIT = (errno.ENOSPC, errno.ENOMEM, errno.EMFILE)
# One refresh reads at most this much (~500 events with short names); what is
# left queued means the events no longer tell what changed.
READ_BYTES = 16 * 1024
# Beyond this many events per second, following them one by one is most of the
# work: walk instead (paced).
FLOOD = FloodPolicy(max_events=4096, interval=1.0)
# A walk made because events were lost is followed by at least this many times
# its CPU cost without another: under a flood, walks use at most 1/3 of a CPU.
WALK_REST = 3.0


@attrs.frozen
class EnvScan:
    """The dotenv entries of a workspace at one moment, each with its version."""

    entries: frozenset[tuple[EnvMask, Version]]

    @property
    def masks(self) -> frozenset[EnvMask]:
        return frozenset(mask for mask, _ in self.entries)

    def covers(self, current: EnvScan) -> bool:
        """True when a sandbox built from this scan hides every entry of `current`."""
        return current.entries <= self.entries


EMPTY_SCAN = EnvScan(frozenset())


def dirty_directories(
    events: Iterable[Event], watched: Mapping[int, str]
) -> dict[str, set[str]] | None:
    """Which watched directories changed, and the names involved; None when
    the index must be rebuilt (events were lost, or a directory moved)."""
    dirty: dict[str, set[str]] = {}
    for event in events:
        if event.mask & (IN_Q_OVERFLOW | IN_MOVE_SELF):
            return None
        if event.mask & IN_ISDIR and event.mask & (IN_MOVED_FROM | IN_MOVED_TO):
            return None
        relpath = watched.get(event.wd)
        if relpath is None or event.mask & (IN_IGNORED | IN_DELETE_SELF):
            continue  # a removed directory: its parent's event says so
        dirty.setdefault(relpath, set()).add(event.name)
    return dirty


@attrs.define(eq=False)
class EnvMaskIndex:
    """The dotenv masks of `workspace`, kept current (see the module docstring)."""

    workspace: Path
    use_inotify: bool = True
    protected: frozenset[FileId] = frozenset()  # hard links to these are masked too
    clock: Callable[[], float] = time.monotonic
    cpu_clock: Callable[[], float] = time.thread_time
    rebuilds: int = 0  # full walks so far
    relists: int = 0  # single directories re-listed after events
    _inotify: Inotify | None = None
    _dirs: dict[str, Listing] = attrs.Factory(dict)
    _wd_of: dict[str, int] = attrs.Factory(dict)
    _dir_of: dict[int, str] = attrs.Factory(dict)
    _versions: dict[str, tuple[EnvMask, Version]] = attrs.Factory(dict)
    _generation: int = 0
    _scan: EnvScan | None = None
    _gauge: FloodGauge = attrs.Factory(FloodGauge)
    _lost: bool = False  # events were lost: the scan is unknown until the next (paced) walk
    _flooded_queue: bool = False  # the instance saw a flood: only a new one is trusted
    _walk_began: float = -math.inf  # when the last completed walk began (`clock`)
    _paced_walk: tuple[float, float] | None = None  # (ended, CPU cost) of the last paced one

    @property
    def watching(self) -> bool:
        """False when every refresh walks the tree (no inotify, or too many directories)."""
        return self._inotify is not None

    @property
    def walk_allowed_at(self) -> float:
        """When a walk made because events were lost may begin (`clock`)."""
        return -math.inf if self._paced_walk is None else next_walk_at(*self._paced_walk, WALK_REST)

    def cached_if_quiet(self) -> EnvScan | None:
        """The last scan if no event is queued (one ioctl, nothing read), else None:
        then call `refresh`. Cheap enough for the event loop's thread."""
        if self._scan is None or self._inotify is None or self._lost or self._flooded_queue:
            return None
        return None if self._inotify.pending_bytes() else self._scan

    def refresh(self, asked_at: float | None = None) -> EnvScan | None:
        """The current scan: cached when no event arrived since the last one.

        None when events were lost and the walk that replaces them must wait
        (see the module docstring): call again at `walk_allowed_at`. With
        `asked_at` (`clock`), a walk begun since then answers at once (it saw
        everything the caller must see: waiting callers share one walk).
        """
        if self._scan is not None and asked_at is not None and self._walk_began >= asked_at:
            return self._scan
        if self._scan is not None and self._inotify is not None and not self._lost:
            if self._follow():
                return self._scan
            self._lost = True
        if self._lost and self.clock() < self.walk_allowed_at:
            return None
        self._rebuild()
        assert self._scan is not None
        return self._scan

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def _follow(self) -> bool:
        """Apply one batch of events (at most `READ_BYTES`); False when the
        events cannot tell what changed (lost, a flood, a moved directory)."""
        assert self._inotify is not None
        if self._flooded_queue:
            return False
        if not self._inotify.pending_bytes():
            return True
        now = self.clock()
        batch = self._inotify.read_batch(READ_BYTES)
        self._gauge = self._gauge.observe(
            FLOOD, now, len(batch.events), overflowed=batch.overflowed
        )
        if self._gauge.flooded(now):
            self._flooded_queue = True
            return False
        dirty = dirty_directories(batch.events, self._dir_of)
        if dirty is None:
            return False
        for relpath, names in dirty.items():
            if relpath in self._dirs:
                self._relist(relpath, names)
        if dirty:
            self._scan = EnvScan(frozenset(self._versions.values()))
        return True

    def _rebuild(self) -> None:
        """Walk the whole tree again (timed by `clock`; paced when events were
        lost). A new instance only when there is none, or once a flood is over
        (its queue lost events); else the same one, re-watched."""
        self.rebuilds += 1
        began, cpu_began = self.clock(), self.cpu_clock()
        if self._flooded_queue and not self._gauge.flooded(began):
            self.close()
            self._flooded_queue = False
        if self._inotify is None and self.use_inotify:
            try:
                self._inotify = Inotify.open()
            except OSError:
                self._inotify = None
        previous = self._versions
        self._dirs, self._wd_of, self._dir_of, self._versions = {}, {}, {}, {}
        self._add_tree(".", keep_from=previous)
        self._scan = EnvScan(frozenset(self._versions.values()))
        self._walk_began = began
        if self._lost:
            self._lost, self._paced_walk = False, (self.clock(), self.cpu_clock() - cpu_began)

    def _add_tree(
        self, top: str, keep_from: Mapping[str, tuple[EnvMask, Version]] | None = None
    ) -> None:
        """Watch, then list, `top` and every directory below it (watch first:
        whatever appears after the listing is an event). `keep_from`: known
        versions an unchanged entry keeps (None: the whole tree is new)."""
        pending = [top]
        while pending:
            relpath = pending.pop()
            if not self._watch(relpath):
                continue
            try:
                listing = list_directory(self.workspace, relpath, protected=self.protected)
            except OSError:
                continue  # gone or unreadable: the sandbox cannot read it either
            self._dirs[relpath] = listing
            for mask, identity in listing.dotenv.values():
                self._set_version(mask, identity, keep_from)
            pending.extend(join(relpath, name) for name in listing.subdirs)

    def _watch(self, relpath: str) -> bool:
        """Add a watch; False if the directory vanished. At the watch limit,
        drop inotify altogether (a partly watched tree would be unsound).
        No watch on a flooded queue: nothing reads it again (and each watch is
        a path lookup, slow while the flood renames directories)."""
        if self._inotify is None or self._flooded_queue:
            return True
        try:
            wd = self._inotify.add_watch(str(self.workspace / relpath))
        except OSError as exc:
            if exc.errno in _WATCH_LIMIT:
                self.close()
                return True
            return False
        self._wd_of[relpath], self._dir_of[wd] = wd, relpath
        return True

    def _relist(self, relpath: str, names: set[str]) -> None:
        old = self._dirs[relpath]
        try:
            new = list_directory(self.workspace, relpath, protected=self.protected)
        except OSError:
            self._drop_tree(relpath)
            return
        self.relists += 1
        self._dirs[relpath] = new
        for name, (mask, _) in old.dotenv.items():
            if name not in new.dotenv:
                self._versions.pop(mask.relpath, None)
        for name, (mask, identity) in new.dotenv.items():
            self._set_version(mask, identity, None if name in names else self._versions)
        for name in old.subdirs:
            if name not in new.subdirs or name in names:
                self._drop_tree(join(relpath, name))
        for name in new.subdirs:
            if name not in old.subdirs or name in names:
                self._add_tree(join(relpath, name))

    def _set_version(
        self,
        mask: EnvMask,
        identity: Identity,
        keep_from: Mapping[str, tuple[EnvMask, Version]] | None,
    ) -> None:
        """Keep the version `keep_from` knows for an unchanged entry; else a new one
        (a new generation when events are watched)."""
        known = None if keep_from is None else keep_from.get(mask.relpath)
        if known is not None and known[0] == mask and known[1][:3] == identity:
            self._versions[mask.relpath] = known
            return
        generation = 0
        if self._inotify is not None:
            self._generation += 1
            generation = self._generation
        self._versions[mask.relpath] = (mask, (*identity, generation))

    def _drop_tree(self, top: str) -> None:
        """Forget `top` and everything below it (its watches go with the directories)."""
        prefix = top + "/"
        for relpath in [r for r in self._dirs if r == top or r.startswith(prefix)]:
            listing = self._dirs.pop(relpath)
            for mask, _ in listing.dotenv.values():
                self._versions.pop(mask.relpath, None)
            wd = self._wd_of.pop(relpath, None)
            if wd is not None:
                self._dir_of.pop(wd, None)
