"""Workspace.create_bytes: a new file or nothing, on both resolvers."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.platform.workspace_fs import Refusal, Workspace, WorkspacePathError

SECRET = b"TELEGRAM_BOT_TOKEN=123:outside-secret\n"


@pytest.fixture(params=["openat2", "walk"])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    (tmp_path / "ws").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "target").write_bytes(SECRET)
    with Workspace.open(tmp_path / "ws", openat2=request.param == "openat2") as workspace:
        yield workspace


def test_creates_a_0600_file_and_0700_directories(opened: Workspace, tmp_path: Path) -> None:
    opened.create_bytes("inbox/day/a.bin", b"\0data", make_dirs=True)
    path = tmp_path / "ws" / "inbox" / "day" / "a.bin"
    assert path.read_bytes() == b"\0data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ws" / "inbox").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "ws" / "inbox" / "day").stat().st_mode) == 0o700


def test_a_taken_name_is_refused_and_left_alone(opened: Workspace, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "file").write_bytes(b"old")
    (ws / "link").symlink_to(tmp_path / "outside" / "target")
    (ws / "dangling").symlink_to(tmp_path / "outside" / "nothing")
    for name in ("file", "link", "dangling"):
        with pytest.raises(WorkspacePathError) as caught:
            opened.create_bytes(name, b"new")
        assert caught.value.refusal is Refusal.EXISTS
        assert str(caught.value) == f"workspace path {name!r}: already exists"
    assert (ws / "file").read_bytes() == b"old"
    assert (tmp_path / "outside" / "target").read_bytes() == SECRET
    assert not (tmp_path / "outside" / "nothing").exists()
    assert os.readlink(ws / "dangling") == str(tmp_path / "outside" / "nothing")


def test_a_symlinked_directory_on_the_way_is_refused(opened: Workspace, tmp_path: Path) -> None:
    (tmp_path / "ws" / "inbox").symlink_to(tmp_path / "outside")
    for make_dirs in (False, True):
        with pytest.raises(WorkspacePathError) as caught:
            opened.create_bytes("inbox/new.bin", b"x", make_dirs=make_dirs)
        assert caught.value.refusal is Refusal.SYMLINK
    assert sorted(os.listdir(tmp_path / "outside")) == ["target"]


def test_dotenv_and_invalid_names_are_refused(opened: Workspace, tmp_path: Path) -> None:
    for relative, refusal in ((".env", Refusal.DOTENV), ("../x", Refusal.INVALID)):
        with pytest.raises(WorkspacePathError) as caught:
            opened.create_bytes(relative, b"x")
        assert caught.value.refusal is refusal
    assert os.listdir(tmp_path / "ws") == []
