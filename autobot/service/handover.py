"""Give a bot directory to its service account, never reaching outside it (blocking).

The directory can change while it is handed over: whoever owns the
workspace (the model, through its sandbox) renames, links and swaps names at
any moment, and a file's link count read by `stat` says nothing reliable
while names come and go. So the hand-over first takes the tree out of
everyone else's hands:

1. lock: top-down, each directory is opened relative to its parent without
   following a symlink (`os.fwalk`), given to root and made 0700 through that
   descriptor (its owner and mode remembered), and only then listed, so no
   other account can add, remove or swap a name in it from then on;
2. files: in the now still tree, each regular file is opened relative to its
   directory with `O_NOFOLLOW | O_NONBLOCK`, `fstat`-ed, and changed with
   `fchown` on that descriptor. A file with several names is handed over only
   when every one of its names is inside the bot directory (counted in the
   locked tree); otherwise a name elsewhere (`/etc/shadow` linked in) would
   give that file away;
3. release: children before parents, each directory gets the account as
   owner and its own mode back (opened again component by component with
   `O_NOFOLLOW`, and checked to be the directory that was locked).

If a step fails, the directories get their original owners and modes back.
Symbolic links are left as they are and never followed; devices, FIFOs and
sockets are not handed over, nor is anything mounted inside the bot
directory (another file system, or a bind mount of a directory elsewhere).
`survey` reports those beforehand without changing anything, so `install`
refuses before any change.
"""

from __future__ import annotations

import collections
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from autobot.platform.mountinfo import parse_mounts

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
LOCKED_MODE = 0o700
MOUNTINFO = Path("/proc/self/mountinfo")
NOT_HELD = "a device, FIFO or socket, which a bot directory does not hold"

Inode = tuple[int, int]
Entry = tuple[str, str, os.stat_result]  # name, path relative to the bot directory, lstat


@attrs.frozen
class Survey:
    """What a hand-over would meet: how many directories and files, and
    which entries it refuses (each `'relative/path': reason`)."""

    entries: int
    refused: tuple[str, ...]


@attrs.frozen
class HandOver:
    """What `hand_over` did: entries that changed owner, entries left alone."""

    changed: int
    skipped: tuple[str, ...]


@attrs.frozen
class _Locked:
    relative: str
    inode: Inode
    uid: int
    gid: int
    mode: int


def _inode(info: os.stat_result) -> Inode:
    return info.st_dev, info.st_ino


def _mount_points(bot_dir: Path) -> frozenset[str]:
    """Every mount point strictly inside `bot_dir`."""
    mounts = parse_mounts(MOUNTINFO.read_text())
    return frozenset(m.point for m in mounts if Path(bot_dir) in Path(m.point).parents)


def _walk(
    bot_dir: Path, refused: list[str], lock: Callable[[int, str], None] | None = None
) -> Iterator[tuple[int, list[Entry]]]:
    """Each directory of the tree (top-down, by descriptors, never through a
    symlink) with its entries, listed after `lock(dir_fd, relative)` when
    given. Mounted directories are reported in `refused` and not entered."""
    mounts = _mount_points(bot_dir)
    for root, dirs, _files, root_fd in os.fwalk(bot_dir, follow_symlinks=False):
        base = os.path.relpath(root, bot_dir)
        if lock is not None:
            lock(root_fd, base)
        entries: list[Entry] = []
        for name in os.listdir(root_fd):
            try:
                info = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the listing (only possible before the lock)
            entries.append((name, os.path.normpath(os.path.join(base, name)), info))
        dirs.clear()  # descend into what this listing saw, and only that
        for name, relative, info in entries:
            if not stat.S_ISDIR(info.st_mode):
                continue
            if os.path.join(root, name) in mounts:
                refused.append(f"{relative!r}: something is mounted there")
            else:
                dirs.append(name)
        yield root_fd, entries


def _regular(entries: list[Entry]) -> Iterator[Entry]:
    return (entry for entry in entries if stat.S_ISREG(entry[2].st_mode))


def survey(bot_dir: Path) -> Survey:
    """Walk `bot_dir` and list what a hand-over would refuse, changing nothing."""
    refused: list[str] = []
    count = 1
    names: collections.Counter[Inode] = collections.Counter()
    first: dict[Inode, tuple[str, int]] = {}
    for _fd, entries in _walk(bot_dir, refused):
        for _name, relative, info in entries:
            if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                count += 1
            elif not stat.S_ISLNK(info.st_mode):
                refused.append(f"{relative!r}: {NOT_HELD}")
        for _name, relative, info in _regular(entries):
            if info.st_nlink > 1:
                names[_inode(info)] += 1
                first.setdefault(_inode(info), (relative, info.st_nlink))
    refused += [
        f"{relative!r}: a hard link to a file with {nlink} names, some outside the bot directory"
        for inode, (relative, nlink) in sorted(first.items(), key=lambda item: item[1])
        if names[inode] < nlink
    ]
    return Survey(entries=count, refused=tuple(refused))


def _lock(bot_dir: Path, locked: list[_Locked], skipped: list[str]) -> None:
    """Step 1: every directory root's and 0700, appended to `locked` in order."""

    def lock(dir_fd: int, relative: str) -> None:
        info = os.fstat(dir_fd)
        locked.append(
            _Locked(relative, _inode(info), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
        )
        os.fchown(dir_fd, 0, 0)
        os.fchmod(dir_fd, LOCKED_MODE)

    for _ in _walk(bot_dir, skipped, lock):
        pass


def _give_files(bot_dir: Path, uid: int, gid: int, skipped: list[str]) -> int:
    """Step 2: every regular file whose names are all inside, in the locked tree."""
    names: collections.Counter[Inode] = collections.Counter()
    for _fd, entries in _walk(bot_dir, []):
        names.update(_inode(info) for _name, _relative, info in _regular(entries))
    changed = 0
    for dir_fd, entries in _walk(bot_dir, []):
        for name, relative, info in entries:
            if not stat.S_ISREG(info.st_mode):
                if not (stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)):
                    skipped.append(f"{relative!r}: {NOT_HELD}")
                continue
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
            try:
                now = os.fstat(fd)
                if _inode(now) != _inode(info) or not stat.S_ISREG(now.st_mode):
                    raise OSError(f"{relative!r} changed in a locked directory")
                if now.st_nlink > names[_inode(now)]:
                    skipped.append(f"{relative!r}: it has names outside the bot directory")
                elif (now.st_uid, now.st_gid) != (uid, gid):
                    os.fchown(fd, uid, gid)
                    changed += 1
            finally:
                os.close(fd)
    return changed


def _open_locked(bot_fd: int, entry: _Locked) -> int:
    """The locked directory `entry`, reached again from the bot directory."""
    fd = os.dup(bot_fd)
    try:
        for part in () if entry.relative == "." else entry.relative.split(os.sep):
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        if _inode(os.fstat(fd)) != entry.inode:
            raise OSError(f"{entry.relative!r} changed in a locked directory")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(bot_dir: Path, locked: list[_Locked], owner: tuple[int, int] | None) -> int:
    """Step 3, children first: each locked directory to `owner` (None: its
    original owner) with its original mode. Returns how many changed owner."""
    changed = 0
    bot_fd = os.open(bot_dir, _DIR_FLAGS)
    try:
        for entry in reversed(locked):
            uid, gid = owner if owner is not None else (entry.uid, entry.gid)
            fd = _open_locked(bot_fd, entry)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, entry.mode)
            finally:
                os.close(fd)
            changed += (uid, gid) != (entry.uid, entry.gid)
    finally:
        os.close(bot_fd)
    return changed


def hand_over(bot_dir: Path, uid: int, gid: int) -> HandOver:
    """Give `bot_dir` and everything in it to `uid`:`gid` (see the module
    docstring). Raises OSError when a step fails; the directories then have
    their original owners and modes again."""
    skipped: list[str] = []
    locked: list[_Locked] = []
    try:
        _lock(bot_dir, locked, skipped)
        files = _give_files(bot_dir, uid, gid, skipped)
    except BaseException:
        _release(bot_dir, locked, None)
        raise
    directories = _release(bot_dir, locked, (uid, gid))
    return HandOver(changed=files + directories, skipped=tuple(skipped))
