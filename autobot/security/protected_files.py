"""The bot's own secret files by identity: a hard link is the same file under another name.

The sandbox masks and doctor compare workspace entries against the
(device, inode) of the bot's `.env` taken at start (`protected_file_ids`),
so a hard link to it is caught whatever it is called. A file replaced
afterwards (an editor's atomic save gives `.env` a new inode) is not the one
recorded: identities are taken again at the next start.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

FileId = tuple[int, int]  # st_dev, st_ino


def protected_file_ids(paths: Iterable[Path]) -> frozenset[FileId]:
    """The (device, inode) of each of `paths` that exists (symlinks followed: a
    link to the file is the file); a missing or unreadable path adds nothing.
    Blocking I/O (one stat per path)."""
    found: set[FileId] = set()
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return frozenset(found)


def is_protected_entry(entry: os.DirEntry[str], protected: frozenset[FileId]) -> bool:
    """True when the directory entry `entry` is, or (a symlink) leads to, one
    of the `protected` files. An entry gone meanwhile, or a dangling or
    unreadable symlink, is not. Blocking I/O for candidates only.

    A non-symlink is a candidate by its directory entry's d_ino
    (`DirEntry.inode()`, known without a system call), which equals st_ino for
    non-directories on every Linux filesystem, overlayfs included
    (Documentation/filesystems/overlayfs.rst, "Inode properties"); only a
    candidate is stat'ed, to compare the device too. A symlink is stat'ed
    through.
    """
    if not protected:
        return False
    follow = entry.is_symlink()
    if not follow and all(ino != entry.inode() for _, ino in protected):
        return False
    try:
        st = entry.stat(follow_symlinks=follow)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in protected
