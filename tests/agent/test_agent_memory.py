"""Writing consolidated memory: owner-only modes, appended history, no escape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autobot.agent.memory import Consolidation, write_memory
from autobot.platform.workspace_fs import Refusal, WorkspacePathError


def test_memory_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    old = os.umask(0)
    try:
        write_memory(workspace, Consolidation("Alice likes tea.", "talked about tea"), "2026-12-02")
        write_memory(workspace, Consolidation("Alice likes tea.\n", "and  biscuits"), "2026-12-03")
    finally:
        os.umask(old)
    memory = workspace / "memory"
    assert memory.stat().st_mode & 0o777 == 0o700
    assert (memory / "MEMORY.md").stat().st_mode & 0o777 == 0o600
    assert (memory / "HISTORY.md").stat().st_mode & 0o777 == 0o600
    assert (memory / "MEMORY.md").read_text() == "Alice likes tea.\n"
    assert (memory / "HISTORY.md").read_text() == (
        "[2026-12-02] talked about tea\n[2026-12-03] and biscuits\n"
    )


def test_a_memory_dir_linked_outside_the_workspace_is_not_written(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / "memory").symlink_to(elsewhere)
    with pytest.raises(WorkspacePathError, match="'memory': is a symlink") as caught:
        write_memory(workspace, Consolidation("x", "y"), "2026-12-02")
    assert caught.value.refusal is Refusal.SYMLINK
    assert str(tmp_path) not in str(caught.value)
    assert list(elsewhere.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_as_root_memory_belongs_to_the_workspace_owner(tmp_path: Path) -> None:
    """The sandbox runs as the workspace's unprivileged owner: it must still be
    able to read and edit the memory files the gateway (root) wrote."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    os.chown(workspace, 65534, 65534)
    write_memory(workspace, Consolidation("Alice likes tea.", "talked about tea"), "2026-12-02")
    for path in ("memory", "memory/MEMORY.md", "memory/HISTORY.md"):
        info = (workspace / path).stat()
        assert (info.st_uid, info.st_gid) == (65534, 65534), path


def test_a_history_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    """A FIFO with no reader, where a blocking open would hang the consolidation."""
    workspace = tmp_path / "workspace"
    (workspace / "memory").mkdir(parents=True)
    os.mkfifo(workspace / "memory" / "HISTORY.md")
    with pytest.raises(WorkspacePathError, match="not a regular file") as caught:
        write_memory(workspace, Consolidation("x", "y"), "2026-12-02")
    assert caught.value.refusal is Refusal.NOT_REGULAR
