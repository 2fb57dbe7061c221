"""Find the dotenv entries in a workspace that a worker's mount namespace must hide.

Every dotenv-named regular file (`autobot.security.paths.is_env_file_name`)
is covered by a read-only bind of `/dev/null`, every dotenv-named directory
by an empty read-only tmpfs. So is a file of any name that *is* a protected
file: a hard link to the bot's `.env` (same device and inode, see
`security.protected_files`) shows its secrets under an innocent name.
Symlinks are never masked themselves: inside the sandbox they resolve either
to a masked entry in the workspace or to a path that does not exist there.
`list_directory` is the one place that decides this for a directory;
`find_env_masks` walks a whole tree with it and `env_index.EnvMaskIndex`
keeps the answer current.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from autobot.security.paths import is_env_file_name
from autobot.security.protected_files import FileId, is_protected_entry

# What distinguishes one incarnation of an entry from the next at the same path.
Identity = tuple[int, int, int]  # st_dev, st_ino, st_ctime_ns


@attrs.frozen(order=True)
class EnvMask:
    """One entry to hide (dotenv-named, or a protected file), as a POSIX path
    relative to the workspace."""

    relpath: str
    is_dir: bool


@attrs.frozen
class Listing:
    """One directory: its entries to hide (with identities) and the subdirectories
    to descend into (not symlinks, not dotenv-named: those are hidden wholesale)."""

    dotenv: dict[str, tuple[EnvMask, Identity]]
    subdirs: frozenset[str]


def join(rel_top: str, name: str) -> str:
    """`name` below the workspace-relative directory `rel_top` ("." is the root)."""
    return name if rel_top == "." else f"{rel_top}/{name}"


def list_directory(
    workspace: Path, rel: str, *, protected: frozenset[FileId] = frozenset()
) -> Listing:
    """List `workspace/rel`: dotenv-named entries and `protected` files (hard
    links to the bot's `.env`) are to be masked. OSError if it cannot be
    listed. Blocking I/O."""
    dotenv: dict[str, tuple[EnvMask, Identity]] = {}
    subdirs: set[str] = set()
    with os.scandir(workspace / rel) as entries:
        for entry in entries:
            if entry.is_symlink():
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            hidden = is_env_file_name(entry.name) or (
                not is_dir and is_protected_entry(entry, protected)
            )
            if hidden:
                try:
                    st = entry.stat(follow_symlinks=False)  # cached after a protected check
                except FileNotFoundError:
                    continue  # gone meanwhile
                identity = (st.st_dev, st.st_ino, st.st_ctime_ns)
                dotenv[entry.name] = (EnvMask(join(rel, entry.name), is_dir), identity)
            elif is_dir:
                subdirs.add(entry.name)
    return Listing(dotenv, frozenset(subdirs))


def find_env_masks(
    workspace: Path, *, protected: frozenset[FileId] = frozenset()
) -> frozenset[EnvMask]:
    """Every dotenv-named file or directory, and every `protected` file, under
    `workspace` (no symlinks followed).

    Blocking I/O: call it through `trio.to_thread.run_sync`. Unreadable
    directories are skipped (the sandbox cannot read them either).
    """
    found: set[EnvMask] = set()
    pending = ["."]
    while pending:
        rel = pending.pop()
        try:
            listing = list_directory(workspace, rel, protected=protected)
        except OSError:
            continue
        found.update(mask for mask, _ in listing.dotenv.values())
        pending.extend(join(rel, name) for name in listing.subdirs)
    return frozenset(found)
