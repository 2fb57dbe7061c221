"""Find the dotenv entries in a workspace that a worker's mount namespace must hide.

Every dotenv-named regular file (`autobot.security.paths.is_env_file_name`)
is covered by a read-only bind of `/dev/null`, every dotenv-named directory
by an empty read-only tmpfs. Symlinks are never masked themselves: inside the
sandbox they resolve either to a masked entry in the workspace or to a path
that does not exist there.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from autobot.security.paths import is_env_file_name


@attrs.frozen(order=True)
class EnvMask:
    """One dotenv entry, as a POSIX path relative to the workspace."""

    relpath: str
    is_dir: bool


def find_env_masks(workspace: Path) -> frozenset[EnvMask]:
    """Every dotenv-named file or directory under `workspace` (no symlinks followed).

    Blocking I/O: call it through `trio.to_thread.run_sync`. Unreadable
    directories are skipped (the sandbox cannot read them either).
    """
    found: set[EnvMask] = set()
    for top, dirs, files in os.walk(workspace, followlinks=False):
        rel_top = os.path.relpath(top, workspace)
        for name in files:
            if is_env_file_name(name) and not os.path.islink(os.path.join(top, name)):
                found.add(EnvMask(_join(rel_top, name), is_dir=False))
        for name in list(dirs):
            if is_env_file_name(name) and not os.path.islink(os.path.join(top, name)):
                found.add(EnvMask(_join(rel_top, name), is_dir=True))
                dirs.remove(name)  # hidden wholesale: nothing below needs its own mask
    return frozenset(found)


def _join(rel_top: str, name: str) -> str:
    return name if rel_top == "." else f"{rel_top}/{name}"
