"""Bounded search of a workspace tree for dotenv files (blocking I/O).

The model can read anything in its workspace, so a `.env`, `.env.local`,
`secrets.env` or an editor's `.env~` anywhere below it is a leak, and so is a
hard link to the bot's own `.env` (the same file under an innocent name,
recognised by device and inode: `security.protected_files`). The sandbox
masks both; the doctor reports them so the operator removes them. The walk
is breadth-first, never follows symlinked directories (no loops, no escaping
the tree), and stops after `max_entries` directory entries or below
`max_depth` levels; a walk that stopped early says so, so the doctor can warn
that it did not see everything.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import attrs

from autobot.security.paths import is_env_file_name
from autobot.security.protected_files import FileId, is_protected_entry

MAX_DEPTH = 12  # deeper than any sane workspace layout
MAX_ENTRIES = 20_000  # keeps `doctor` fast on a workspace full of checkouts


@attrs.frozen(kw_only=True)
class DotenvScan:
    """Non-directory entries, in walk order: `found` are dotenv-named or symlinks
    to a dotenv-named file; `env_links` are (or, as symlinks, lead to) one of the
    protected files under a name that is not dotenv-like."""

    found: tuple[Path, ...]
    env_links: tuple[Path, ...]
    truncated: bool


def _is_dotenv_entry(entry: os.DirEntry[str]) -> bool:
    """A dotenv-named entry, or a symlink (any name) leading to a dotenv-named file."""
    if is_env_file_name(entry.name):
        return True
    return entry.is_symlink() and is_env_file_name(os.path.basename(os.path.realpath(entry.path)))


def find_dotenv_files(
    root: Path,
    *,
    protected: frozenset[FileId] = frozenset(),
    max_depth: int = MAX_DEPTH,
    max_entries: int = MAX_ENTRIES,
) -> DotenvScan:
    """Walk `root` (depth 1 = its direct children) for dotenv-named files and
    for the `protected` files (the bot's `.env`) under any other name.

    A missing or unreadable `root` yields an empty, non-truncated scan; an
    unreadable subdirectory is skipped. Raises nothing for I/O problems.
    """
    found: list[Path] = []
    links: list[Path] = []
    seen = 0
    too_deep = False
    pending: deque[tuple[Path, int]] = deque([(root, 1)])
    while pending:
        directory, depth = pending.popleft()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        return DotenvScan(
                            found=tuple(found), env_links=tuple(links), truncated=True
                        )
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if is_dir and depth < max_depth:
                        pending.append((Path(entry.path), depth + 1))
                    elif is_dir:
                        too_deep = True
                    elif _is_dotenv_entry(entry):
                        found.append(Path(entry.path))
                    elif is_protected_entry(entry, protected):
                        links.append(Path(entry.path))
        except OSError:
            continue
    return DotenvScan(found=tuple(found), env_links=tuple(links), truncated=too_deep)
