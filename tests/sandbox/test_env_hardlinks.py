"""Hard links to the bot's `.env`: masked by identity (device, inode), whatever their name.

Plain sync tests on real directories: `masks.list_directory` decides, the full
walk (`find_env_masks`) and the inotify index (`EnvMaskIndex`) both use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.sandbox.env_index import EnvMaskIndex
from autobot.sandbox.masks import EnvMask, find_env_masks
from autobot.security.protected_files import protected_file_ids


@pytest.fixture
def bot(tmp_path: Path) -> Path:
    """A bot directory: `.env` beside an empty `workspace/`."""
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-hardlinked-secret-0123456789\n")
    (tmp_path / "workspace" / "src").mkdir(parents=True)
    (tmp_path / "workspace" / "src" / "main.py").write_text("print('hi')\n")
    return tmp_path


def test_a_hard_link_of_any_name_is_masked_and_nothing_else(bot: Path) -> None:
    workspace = bot / "workspace"
    os.link(bot / ".env", workspace / "notes.txt")
    os.link(bot / ".env", workspace / "src" / "config.py")
    (workspace / "copy.txt").write_bytes((bot / ".env").read_bytes())  # a copy: another inode
    (workspace / "to-env").symlink_to(bot / ".env")  # resolves to nothing inside the sandbox
    protected = protected_file_ids([bot / ".env"])
    assert find_env_masks(workspace, protected=protected) == {
        EnvMask("notes.txt", False),
        EnvMask("src/config.py", False),
    }
    assert find_env_masks(workspace) == frozenset()  # without identities: names only


def test_the_same_inode_number_on_another_device_is_not_masked(bot: Path) -> None:
    workspace = bot / "workspace"
    os.link(bot / ".env", workspace / "notes.txt")
    st = (bot / ".env").stat()
    elsewhere = frozenset({(st.st_dev + 1, st.st_ino)})
    assert find_env_masks(workspace, protected=elsewhere) == frozenset()


@pytest.fixture(params=[True, False], ids=["inotify", "walk"])
def index(request: pytest.FixtureRequest, bot: Path) -> Iterator[EnvMaskIndex]:
    os.link(bot / ".env", bot / "workspace" / "before-start.txt")
    built = EnvMaskIndex(
        bot / "workspace",
        use_inotify=request.param,
        protected=protected_file_ids([bot / ".env"]),
    )
    yield built
    built.close()


def test_index_masks_a_link_placed_before_start(index: EnvMaskIndex) -> None:
    assert index.refresh().masks == {EnvMask("before-start.txt", False)}


@pytest.mark.parametrize("where", ["src/late.txt", "new/dir/late.py"])
def test_index_notices_a_link_made_while_it_runs(
    index: EnvMaskIndex, bot: Path, where: str
) -> None:
    before = index.refresh()
    target = index.workspace / where
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(bot / ".env", target)
    after = index.refresh()
    assert not before.covers(after)
    assert EnvMask(where, False) in after.masks
    assert after.masks == find_env_masks(index.workspace, protected=index.protected)


def test_index_notices_a_link_renamed_into_place(index: EnvMaskIndex, bot: Path) -> None:
    staging = bot / "staging"
    os.link(bot / ".env", staging)
    before = index.refresh()
    os.rename(staging, index.workspace / "src" / "moved-in.txt")
    after = index.refresh()
    assert not before.covers(after)
    assert EnvMask("src/moved-in.txt", False) in after.masks


def test_index_forgets_a_removed_link(index: EnvMaskIndex) -> None:
    before = index.refresh()
    (index.workspace / "before-start.txt").unlink()
    after = index.refresh()
    assert after.masks == frozenset() and before.covers(after)
