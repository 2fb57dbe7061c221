"""A root gateway's workspace belongs to the sandbox account.

The sandboxed processes of a root gateway run as an unprivileged identity
(`userns.py`), so the workspace must be theirs: `hand_over` gives every
directory and file in it to that account at pool start (before any worker
exists), walking by directory descriptors and never following a symlink.
It never gives away a file that has other names (a hard link may lead
outside the workspace: the bot's `.env` or any host file) or a protected
inode; those are reported instead. Blocking: call it through a thread.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import attrs

from autobot.sandbox.userns import SandboxIdentity


@attrs.frozen
class HandOver:
    """What `hand_over` did: entries given to the account, entries left alone (relative paths)."""

    handed: int
    skipped: tuple[str, ...]


def hand_over(
    workspace: Path,
    identity: SandboxIdentity,
    protected: frozenset[tuple[int, int]] = frozenset(),
) -> HandOver:
    """Give `workspace` and everything in it to `identity` (see the module docstring)."""
    owner = (identity.uid, identity.gid)
    handed = 0
    skipped: list[str] = []

    def give(name: str, dir_fd: int | None, st: os.stat_result, relative: str) -> None:
        nonlocal handed
        if (st.st_uid, st.st_gid) == owner or stat.S_ISLNK(st.st_mode):
            return
        if not stat.S_ISDIR(st.st_mode) and (
            st.st_nlink > 1 or (st.st_dev, st.st_ino) in protected
        ):
            skipped.append(relative)
            return
        os.chown(name, *owner, dir_fd=dir_fd, follow_symlinks=False)
        handed += 1

    give(str(workspace), None, os.lstat(workspace), ".")
    for top, dirs, files, top_fd in os.fwalk(workspace, follow_symlinks=False):
        base = os.path.relpath(top, workspace)
        for name in (*dirs, *files):
            try:
                st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            give(name, top_fd, st, os.path.normpath(os.path.join(base, name)))
    return HandOver(handed, tuple(skipped))
