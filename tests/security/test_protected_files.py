"""The bot's secret files by identity: which workspace entries are the `.env` under another name."""

from __future__ import annotations

import os
from pathlib import Path

from autobot.security.protected_files import is_protected_entry, protected_file_ids


def entries(directory: Path) -> dict[str, os.DirEntry[str]]:
    with os.scandir(directory) as found:
        return {entry.name: entry for entry in found}


def test_protected_file_ids_stat_each_existing_path_following_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("x")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    st = real.stat()
    assert protected_file_ids([tmp_path / "link"]) == {(st.st_dev, st.st_ino)}
    assert protected_file_ids([real, tmp_path / "link"]) == {(st.st_dev, st.st_ino)}
    assert protected_file_ids([tmp_path / "missing", tmp_path / "dangling"]) == frozenset()


def test_hard_links_and_symlinks_to_a_protected_file_are_it(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("KEY=secret-value-123\n")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    os.link(env, workspace / "hard")
    (workspace / "soft").symlink_to(env)
    (workspace / "soft-to-hard").symlink_to("hard")
    (workspace / "copy").write_text(env.read_text())
    (workspace / "dangling").symlink_to(tmp_path / "nowhere")
    (workspace / "dir").mkdir()
    protected = protected_file_ids([env])
    found = {
        name for name, entry in entries(workspace).items() if is_protected_entry(entry, protected)
    }
    assert found == {"hard", "soft", "soft-to-hard"}
    assert not any(is_protected_entry(entry, frozenset()) for entry in entries(workspace).values())


def test_an_entry_gone_meanwhile_is_not_protected(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("x")
    os.link(env, tmp_path / "hard")
    listed = entries(tmp_path)
    (tmp_path / "hard").unlink()
    (tmp_path / "hard").write_text("another file now")
    protected = protected_file_ids([env])
    assert not is_protected_entry(listed["hard"], protected)  # stat shows the new inode


def test_the_same_inode_number_on_another_device_is_not_protected(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("x")
    st = env.stat()
    assert not is_protected_entry(
        entries(tmp_path)[".env"], frozenset({(st.st_dev + 1, st.st_ino)})
    )
