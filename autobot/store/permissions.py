"""Tighten autobot's own files to 0600 and directories to 0700 (sync).

The gateway calls `tighten_permissions` at start with the bot's private paths
(`autobot.config.state_files.state_permissions`: `.env`, `config.yml`,
session and cron stores, `logs/`, `sessions/`) and logs each returned
`PermissionFix`; `autobot doctor --fix` applies the same.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import attrs

from autobot.store.atomic import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE


@attrs.frozen
class PermissionFix:
    """One mode change made by `tighten_permissions` (modes are permission bits)."""

    path: Path
    old_mode: int
    new_mode: int


def tightened_mode(mode: int, allowed: int) -> int:
    """`mode` with every bit outside `allowed` removed (0o644 -> 0o600 for files);
    bits inside `allowed` are never added (a 0o400 file stays 0o400)."""
    return mode & allowed


def _open_no_follow(path: Path, directory: bool) -> int | None:
    """An fd on `path` itself, or `None` if it is missing or a symlink."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        return os.open(path, flags | (os.O_DIRECTORY if directory else 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        # A symlink fails with ELOOP, or ENOTDIR under O_DIRECTORY: never chmod
        # what it points to.
        if error.errno == errno.ELOOP or os.path.islink(path):
            return None
        if error.errno == errno.ENOTDIR:
            raise ValueError(f"{path} is listed as a directory but is not one") from error
        raise


def tighten_permissions(files: Iterable[Path], dirs: Iterable[Path]) -> list[PermissionFix]:
    """Make each regular file in `files` at most 0600 and each directory in
    `dirs` at most 0700; return the changes, in the order given.

    Missing paths and symlinks are skipped (a symlink's target is never
    touched; the path is opened with `O_NOFOLLOW` and changed through that fd,
    so it cannot be swapped for a link in between). Raises `ValueError`, before
    changing anything, if a listed file is not a regular file or a listed
    directory is not a directory; `OSError` on other I/O failures.
    """
    planned: list[tuple[int, Path, int, int]] = []
    try:
        for paths, directory, allowed in (
            (files, False, PRIVATE_FILE_MODE),
            (dirs, True, PRIVATE_DIR_MODE),
        ):
            for path in paths:
                fd = _open_no_follow(path, directory)
                if fd is None:
                    continue
                info = os.fstat(fd)
                planned.append((fd, path, stat.S_IMODE(info.st_mode), allowed))
                if not directory and not stat.S_ISREG(info.st_mode):
                    raise ValueError(f"{path} is listed as a file but is not a regular file")
        fixes: list[PermissionFix] = []
        for fd, path, mode, allowed in planned:
            new_mode = tightened_mode(mode, allowed)
            if new_mode != mode:
                os.fchmod(fd, new_mode)
                fixes.append(PermissionFix(path=path, old_mode=mode, new_mode=new_mode))
        return fixes
    finally:
        for fd, *_ in planned:
            os.close(fd)
