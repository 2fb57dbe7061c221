"""A root gateway hands its workspace to the sandbox identity, never anything outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autobot.sandbox.ownership import hand_over
from autobot.sandbox.userns import SandboxIdentity

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give files away")
IDENTITY = SandboxIdentity(65534, 65534)


def owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def test_every_entry_is_handed_over_but_links_and_protected_files(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    secret = tmp_path / ".env"
    secret.write_text("KEY=1")
    workspace = tmp_path / "workspace"
    (workspace / "a" / "b").mkdir(parents=True)
    (workspace / "a" / "b" / "note.txt").write_text("x")
    (workspace / "top.txt").write_text("y")
    os.link(outside, workspace / "hardlink.txt")  # another name of a host file
    os.symlink(outside, workspace / "link-out")
    os.symlink("/etc/passwd", workspace / "a" / "passwd")
    protected_copy = workspace / "renamed"
    os.link(secret, protected_copy)
    os.unlink(secret)  # now the only other name is gone: nlink 1, still protected by inode
    st = os.stat(protected_copy)

    result = hand_over(workspace, IDENTITY, frozenset({(st.st_dev, st.st_ino)}))

    for path in (workspace, workspace / "a", workspace / "a" / "b", workspace / "top.txt"):
        assert owner(path) == (65534, 65534), path
    assert owner(workspace / "a" / "b" / "note.txt") == (65534, 65534)
    assert owner(outside) == (0, 0) and owner(Path("/etc/passwd")) == (0, 0)
    assert owner(protected_copy) == (0, 0)
    assert sorted(result.skipped) == ["hardlink.txt", "renamed"]
    assert result.handed == 5
    again = hand_over(workspace, IDENTITY, frozenset({(st.st_dev, st.st_ino)}))
    assert again.handed == 0  # idempotent
