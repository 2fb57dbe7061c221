"""Removing the inbox files of a message the channel does not take (blocking: run in a thread).

The bridge saves a message's media under `<workspace>/inbox/` before the
gateway decides who may talk (it does not know the allow lists), so a
stranger, or chatter in a group the bot only reads, could fill the inbox.
When the gate does not let a message through, its files are removed here.

The workspace belongs to the model, which can swap anything in it at any
moment, so nothing is checked and then used by name: each file's directory
is reached from the workspace root's descriptor without following any
symlink (`platform.workspace_fs.Workspace.directory`), and the file is
removed relative to that descriptor with `unlinkat`, which removes a name
and never follows it. Only paths `inbound.inbox_path` accepted reach here. A
file already gone is no failure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs

from autobot.platform.workspace_fs import Refusal, Workspace, WorkspacePathError


@attrs.frozen
class Discarded:
    """How many files were removed, and the paths that could not be (with why)."""

    removed: int
    failed: tuple[tuple[str, str], ...] = ()


def discard_media(workspace: Path, paths: Sequence[str]) -> Discarded:
    """Remove the files `paths` (relative to `workspace`, under `inbox/`).
    Never raises for one file: its failure is reported in the result."""
    removed = 0
    failed: list[tuple[str, str]] = []
    try:
        root = Workspace.open(workspace)
    except WorkspacePathError as exc:
        return Discarded(0, tuple((path, str(exc)) for path in paths))
    with root:
        for path in paths:
            parent, _, name = path.rpartition("/")
            try:
                with root.directory(parent) as directory:
                    os.unlink(name, dir_fd=directory.fd)
            except FileNotFoundError:
                continue
            except WorkspacePathError as exc:
                if exc.refusal is not Refusal.MISSING:
                    failed.append((path, str(exc)))
                continue
            except OSError as exc:  # a directory in its place, permissions
                failed.append((path, f"{exc.strerror or exc}"))
                continue
            removed += 1
    return Discarded(removed, tuple(failed))
