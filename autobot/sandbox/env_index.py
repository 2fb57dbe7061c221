"""Keep a workspace's dotenv masks current without walking it on every lease.

A worker's sandbox hides the dotenv entries that existed when it was built
(`masks.py`). Before each lease the pool must know whether one appeared
since, or was replaced: the bind mount hiding `.env` stays on the old inode,
so an editor's atomic save (write a temporary file, rename it over `.env`)
would show the new content to a running sandbox. Walking the workspace for
that costs ~150 ms at 50,000 files, more than a fresh sandbox.

`EnvMaskIndex` lists the tree once and watches every directory with inotify
(any entry created, deleted or renamed in a directory is an event on it,
whoever did it, host or sandbox). `refresh` then costs one non-blocking read
when nothing happened, and re-lists only the directories that had events.
A queue overflow or a moved directory (inotify knows directories by watch,
not by path) rebuilds the index. Without inotify, or past the watch limit,
every refresh walks the tree (the old behaviour).

Each mask carries a version: the entry's identity (device, inode, ctime) and
a generation bumped whenever an event names it, so a replacement is noticed
even if the kernel reuses the inode within one timestamp tick. A sandbox
built from scan A still hides everything of scan B iff B's (mask, version)
pairs are a subset of A's (`EnvScan.covers`).

Blocking I/O, not thread-safe: call `refresh` through `trio.to_thread` with a
`CapacityLimiter(1)`; `cached_if_quiet` never blocks and may run in the event
loop's thread while no refresh runs. `close` when done.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path

import attrs

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
    events: list[Event], watched: Mapping[int, str]
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
    rebuilds: int = 0  # full walks so far
    relists: int = 0  # single directories re-listed after events
    _inotify: Inotify | None = None
    _dirs: dict[str, Listing] = attrs.Factory(dict)
    _wd_of: dict[str, int] = attrs.Factory(dict)
    _dir_of: dict[int, str] = attrs.Factory(dict)
    _versions: dict[str, tuple[EnvMask, Version]] = attrs.Factory(dict)
    _generation: int = 0
    _scan: EnvScan | None = None
    _pending: list[Event] = attrs.Factory(list)  # read by `cached_if_quiet`, not yet applied

    @property
    def watching(self) -> bool:
        """False when every refresh walks the tree (no inotify, or too many directories)."""
        return self._inotify is not None

    def cached_if_quiet(self) -> EnvScan | None:
        """The last scan if no event is pending (one non-blocking read), else None:
        then call `refresh`. Cheap enough for the event loop's thread."""
        if self._scan is None or self._inotify is None:
            return None
        events = self._inotify.read_events()
        if events:
            self._pending += events
            return None
        return self._scan

    def refresh(self) -> EnvScan:
        """The current scan: cached when no event arrived since the last one."""
        if self._scan is None or self._inotify is None:
            self._rebuild()
        else:
            events, self._pending = self._pending + self._inotify.read_events(), []
            dirty = dirty_directories(events, self._dir_of)
            if dirty is None:
                self._rebuild()
            elif dirty:
                for relpath, names in dirty.items():
                    if relpath in self._dirs:
                        self._relist(relpath, names)
                self._scan = EnvScan(frozenset(self._versions.values()))
        assert self._scan is not None
        return self._scan

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def _rebuild(self) -> None:
        self.close()
        self._pending = []
        self.rebuilds += 1
        previous = self._versions
        self._dirs, self._wd_of, self._dir_of, self._versions = {}, {}, {}, {}
        if self.use_inotify:
            try:
                self._inotify = Inotify.open()
            except OSError:
                self._inotify = None
        self._add_tree(".", keep_from=previous)
        self._scan = EnvScan(frozenset(self._versions.values()))

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
        drop inotify altogether (a partly watched tree would be unsound)."""
        if self._inotify is None:
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
