"""Give a bot directory to its service account, never following a link (blocking).

The walk starts at the bot directory's descriptor and goes down by directory
descriptors (`os.fwalk` without following symlinks), staying on the bot
directory's file system. Each entry is opened relative to its directory
with `O_NOFOLLOW` (`O_NONBLOCK`: a FIFO swapped in cannot hang it), its
descriptor `fstat`-ed, and changed with `fchown` on that descriptor: what
was checked is what changes owner, whatever the name points to a moment
later. Symbolic links are left as they are (their targets are never
touched).

`survey` decides first, changing nothing: a file with hard links is handed
over only when all its names are inside the bot directory (otherwise one
of them is somewhere else, perhaps `/etc/shadow` linked in); devices, FIFOs
and sockets are not handed over, nor is another file system mounted inside.
Those are refusals: `install` stops before any change. `hand_over` then does
the work and skips (and reports) whatever no longer matches what `survey`
saw, since the model can change the workspace at any moment.
"""

from __future__ import annotations

import collections
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import attrs

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

Inode = tuple[int, int]


@attrs.frozen
class Entry:
    """One entry met by the walk: `name` in the directory `dir_fd`, `relative`
    to the bot directory, `info` from `lstat`."""

    dir_fd: int | None
    name: str
    relative: str
    info: os.stat_result


@attrs.frozen
class Survey:
    """What `hand_over` would do: how many entries change owner, which are
    refused (relative path and reason), and the hard-linked inodes whose
    every name is inside the bot directory."""

    entries: int
    refused: tuple[str, ...]
    contained: frozenset[Inode]


@attrs.frozen
class HandOver:
    """What `hand_over` did: entries given to the account, entries skipped."""

    changed: int
    skipped: tuple[str, ...]


def _entries(bot_dir: Path, refused: list[str]) -> Iterator[Entry]:
    """The bot directory, then every entry below it on its file system
    (another file system's mount point is refused and not entered)."""
    top = os.lstat(bot_dir)
    yield Entry(None, str(bot_dir), ".", top)
    for root, dirs, files, root_fd in os.fwalk(bot_dir, follow_symlinks=False):
        base = os.path.relpath(root, bot_dir)
        for name in (*dirs, *files):
            relative = os.path.normpath(os.path.join(base, name))
            try:
                info = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the listing
            if stat.S_ISDIR(info.st_mode) and info.st_dev != top.st_dev:
                refused.append(f"{relative!r}: another file system is mounted there")
                dirs.remove(name)
                continue
            yield Entry(root_fd, name, relative, info)


def _kind_refusal(info: os.stat_result) -> str | None:
    if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode):
        return None
    return "a device, FIFO or socket, which a bot directory does not hold"


def survey(bot_dir: Path) -> Survey:
    """Walk `bot_dir` and decide what `hand_over` may change (see the module docstring)."""
    refused: list[str] = []
    links: collections.Counter[Inode] = collections.Counter()
    nlinks: dict[Inode, int] = {}
    names: dict[Inode, str] = {}
    entries = 0
    for entry in _entries(bot_dir, refused):
        info = entry.info
        if stat.S_ISLNK(info.st_mode):
            continue
        reason = _kind_refusal(info)
        if reason is not None:
            refused.append(f"{entry.relative!r}: {reason}")
            continue
        entries += 1
        if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            inode = (info.st_dev, info.st_ino)
            links[inode] += 1
            nlinks[inode] = info.st_nlink
            names.setdefault(inode, entry.relative)
    contained = frozenset(inode for inode, seen in links.items() if seen >= nlinks[inode])
    for inode in sorted(set(links) - contained, key=names.__getitem__):
        refused.append(
            f"{names[inode]!r}: a hard link to a file with {nlinks[inode]} names, some outside "
            "the bot directory"
        )
    return Survey(entries=entries, refused=tuple(refused), contained=contained)


def _open(entry: Entry) -> int | None:
    """A descriptor on the entry itself, or None when it is gone or became a link."""
    flags = _DIR_FLAGS if stat.S_ISDIR(entry.info.st_mode) else _FILE_FLAGS
    try:
        return os.open(entry.name, flags, dir_fd=entry.dir_fd)
    except OSError:
        return None


def hand_over(bot_dir: Path, uid: int, gid: int, plan: Survey) -> HandOver:
    """Give `bot_dir` and everything in it to `uid`:`gid`, as `plan` (from
    `survey`) allows. Raises OSError when the bot directory itself cannot be
    walked or a change fails."""
    changed = 0
    skipped: list[str] = []
    for entry in _entries(bot_dir, skipped):
        info = entry.info
        if stat.S_ISLNK(info.st_mode) or _kind_refusal(info) is not None:
            continue
        fd = _open(entry)
        if fd is None:
            skipped.append(f"{entry.relative!r}: changed during the hand-over")
            continue
        try:
            now = os.fstat(fd)
            inode = (now.st_dev, now.st_ino)
            same = inode == (info.st_dev, info.st_ino) and stat.S_IFMT(now.st_mode) == (
                stat.S_IFMT(info.st_mode)
            )
            # the names counted when it was listed, or now: a name swapped away
            # after the listing leaves an outside file with one name at fstat
            linked = stat.S_ISREG(now.st_mode) and max(info.st_nlink, now.st_nlink) > 1
            if not same or (linked and inode not in plan.contained):
                skipped.append(f"{entry.relative!r}: changed during the hand-over")
                continue
            if (now.st_uid, now.st_gid) != (uid, gid):
                os.fchown(fd, uid, gid)
                changed += 1
        finally:
            os.close(fd)
    return HandOver(changed=changed, skipped=tuple(skipped))
