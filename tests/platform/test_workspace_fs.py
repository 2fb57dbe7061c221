"""Workspace: every refusal, on both resolvers (openat2 and the fd walk)."""

from __future__ import annotations

import errno
import functools
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from autobot.platform import workspace_fs
from autobot.platform.workspace_fs import (
    EntryKind,
    Refusal,
    Workspace,
    WorkspacePathError,
    split_relative,
)

SECRET = b"ANTHROPIC_API_KEY=sk-ant-outside-secret\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace with `a/b/c.md`, and the same tree outside it holding a secret."""
    ws = tmp_path / "ws"
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "c.md").write_bytes(b"inside\n")
    (tmp_path / "outside" / "b").mkdir(parents=True)
    (tmp_path / "outside" / "b" / "c.md").write_bytes(SECRET)
    return ws


@pytest.fixture(params=["openat2", "walk"])
def opened(request: pytest.FixtureRequest, root: Path) -> Iterator[Workspace]:
    """The workspace opened with each resolver; the resolver must stay the one asked for."""
    use_openat2 = request.param == "openat2"
    with Workspace.open(root, openat2=use_openat2) as workspace:
        yield workspace
        assert workspace.uses_openat2 is use_openat2


def refused(call: Callable[[], Any], refusal: Refusal, host: Path) -> WorkspacePathError:
    """The WorkspacePathError `call` raises: of kind `refusal`, and naming no host path."""
    with pytest.raises(WorkspacePathError) as caught:
        call()
    assert caught.value.refusal is refusal, str(caught.value)
    assert str(host) not in str(caught.value)
    assert caught.value.filename is None and caught.value.filename2 is None
    return caught.value


def tree(path: Path) -> list[str]:
    """Every path below `path`, relative, sorted (symlinks not followed)."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---- reading ---------------------------------------------------------------------------


def test_a_regular_file_is_read(opened: Workspace) -> None:
    assert opened.read_bytes("a/b/c.md", max_bytes=100) == b"inside\n"


@pytest.mark.parametrize("component", [0, 1, 2], ids=["a", "b", "c.md"])
def test_a_symlink_at_any_component_is_refused(
    opened: Workspace, root: Path, tmp_path: Path, component: int
) -> None:
    """Each link leads to a tree where the read would succeed (outside, with a secret)."""
    parts = ["a", "b", "c.md"]
    real = root.joinpath(*parts[: component + 1])
    real.rename(root / "moved")
    outside = tmp_path / "outside"
    target = outside if component == 0 else outside.joinpath(*parts[1 : component + 1])
    real.symlink_to(target)
    error = refused(lambda: opened.read_bytes("a/b/c.md", max_bytes=100), Refusal.SYMLINK, tmp_path)
    assert error.errno == errno.ELOOP
    refused(lambda: opened.stat("a/b/c.md"), Refusal.SYMLINK, tmp_path)


def test_a_symlink_inside_the_workspace_is_refused_too(opened: Workspace, root: Path) -> None:
    (root / "alias.md").symlink_to("a/b/c.md")
    (root / "alias").symlink_to("a")
    refused(lambda: opened.read_bytes("alias.md", max_bytes=100), Refusal.SYMLINK, root)
    refused(lambda: opened.read_bytes("alias/b/c.md", max_bytes=100), Refusal.SYMLINK, root)


@pytest.mark.parametrize("relative", [".env/b/c.md", "a/.env.prod/c.md", "a/b/.env"])
def test_a_dotenv_name_at_any_component_is_refused(
    opened: Workspace, root: Path, relative: str
) -> None:
    """Refused before any system call: even when the path really exists."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SECRET)
    before = tree(root)
    refused(lambda: opened.read_bytes(relative, max_bytes=100), Refusal.DOTENV, root)
    refused(lambda: opened.stat(relative), Refusal.DOTENV, root)
    refused(lambda: opened.write_bytes(relative, b"x", make_dirs=True), Refusal.DOTENV, root)
    refused(lambda: opened.append_bytes(relative, b"x", make_dirs=True), Refusal.DOTENV, root)
    assert tree(root) == before and path.read_bytes() == SECRET


@pytest.mark.parametrize(
    "relative",
    ["", "/etc/passwd", "..", "../ws/a", "a/../a/b/c.md", "a//b", "./a", "a/", ".", "a/b\0/c"],
)
def test_anything_but_a_plain_relative_path_is_refused(
    opened: Workspace, root: Path, relative: str
) -> None:
    before = tree(root)
    refused(lambda: opened.read_bytes(relative, max_bytes=100), Refusal.INVALID, root)
    refused(lambda: opened.list_dir(relative), Refusal.INVALID, root)
    refused(lambda: opened.write_bytes(relative, b"x", make_dirs=True), Refusal.INVALID, root)
    refused(lambda: opened.append_bytes(relative, b"x", make_dirs=True), Refusal.INVALID, root)
    assert tree(root) == before


def test_a_fifo_is_refused_without_blocking(opened: Workspace, root: Path) -> None:
    """Nobody writes the FIFO: a blocking open would never return."""
    os.mkfifo(root / "pipe")
    refused(lambda: opened.read_bytes("pipe", max_bytes=100), Refusal.NOT_REGULAR, root)
    refused(lambda: opened.append_bytes("pipe", b"x"), Refusal.NOT_REGULAR, root)  # no reader


def test_a_fifo_with_a_reader_gets_nothing_appended(opened: Workspace, root: Path) -> None:
    os.mkfifo(root / "pipe")
    reader = os.open(root / "pipe", os.O_RDONLY | os.O_NONBLOCK)
    try:
        error = refused(lambda: opened.append_bytes("pipe", b"x"), Refusal.NOT_REGULAR, root)
        assert "FIFO" in str(error)
        try:
            data = os.read(reader, 10)  # end of file: a writer came and went
        except BlockingIOError:
            data = b""  # no writer ever came
        assert data == b""
    finally:
        os.close(reader)


def test_a_socket_is_refused(opened: Workspace, root: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(os.fspath(root / "sock"))
        refused(lambda: opened.read_bytes("sock", max_bytes=100), Refusal.NOT_REGULAR, root)
        refused(lambda: opened.append_bytes("sock", b"x"), Refusal.NOT_REGULAR, root)


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device needs root")
def test_a_device_is_refused(opened: Workspace, root: Path) -> None:
    os.mknod(root / "zero", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
    os.mknod(root / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null
    error = refused(lambda: opened.read_bytes("zero", max_bytes=100), Refusal.NOT_REGULAR, root)
    assert "character device" in str(error)
    refused(lambda: opened.append_bytes("null", b"x"), Refusal.NOT_REGULAR, root)


def test_a_directory_is_not_a_file(opened: Workspace, root: Path) -> None:
    refused(lambda: opened.read_bytes("a/b", max_bytes=100), Refusal.NOT_REGULAR, root)
    refused(lambda: opened.append_bytes("a/b", b"x"), Refusal.NOT_REGULAR, root)
    refused(lambda: opened.write_bytes("a/b", b"x"), Refusal.NOT_REGULAR, root)
    assert tree(root / "a") == ["b", "b/c.md"]  # no temp file left behind


def test_an_oversized_file_is_refused_or_truncated(opened: Workspace, root: Path) -> None:
    (root / "big").write_bytes(b"x" * 101)
    (root / "fits").write_bytes(b"y" * 100)
    error = refused(lambda: opened.read_bytes("big", max_bytes=100), Refusal.TOO_LARGE, root)
    assert "larger than 100 bytes" in str(error)
    assert opened.read_bytes("fits", max_bytes=100) == b"y" * 100
    assert opened.read_bytes("big", max_bytes=100, truncate=True) == b"x" * 100


def test_a_huge_sparse_file_costs_only_the_cap(opened: Workspace, root: Path) -> None:
    with (root / "huge").open("wb") as f:
        f.truncate(1 << 40)  # 1 TiB of holes
    refused(lambda: opened.read_bytes("huge", max_bytes=1000), Refusal.TOO_LARGE, root)
    assert opened.read_bytes("huge", max_bytes=1000, truncate=True) == bytes(1000)


def test_a_hard_link_is_read_but_not_under_a_dotenv_name(opened: Workspace, root: Path) -> None:
    os.link(root / "a" / "b" / "c.md", root / "linked.md")
    os.link(root / "a" / "b" / "c.md", root / ".env")
    assert opened.read_bytes("linked.md", max_bytes=100) == b"inside\n"
    refused(lambda: opened.read_bytes(".env", max_bytes=100), Refusal.DOTENV, root)


def test_missing_paths(opened: Workspace, root: Path) -> None:
    error = refused(lambda: opened.read_bytes("a/b/nope.md", max_bytes=9), Refusal.MISSING, root)
    assert error.errno == errno.ENOENT
    assert str(error) == "workspace path 'a/b/nope.md': 'nope.md': does not exist"
    refused(lambda: opened.read_bytes("a/nope/c.md", max_bytes=9), Refusal.MISSING, root)
    refused(lambda: opened.stat("nope"), Refusal.MISSING, root)
    refused(lambda: opened.list_dir("nope"), Refusal.MISSING, root)


def test_a_file_on_the_way_is_not_a_directory(opened: Workspace, root: Path) -> None:
    refused(lambda: opened.read_bytes("a/b/c.md/d", max_bytes=9), Refusal.NOT_DIRECTORY, root)
    refused(lambda: opened.list_dir("a/b/c.md"), Refusal.NOT_DIRECTORY, root)
    refused(
        lambda: opened.write_bytes("a/b/c.md/d", b"x", make_dirs=True), Refusal.NOT_DIRECTORY, root
    )


def test_the_root_itself(tmp_path: Path) -> None:
    error = refused(lambda: Workspace.open(tmp_path / "missing"), Refusal.MISSING, tmp_path)
    assert str(error) == "workspace path '.': does not exist"
    (tmp_path / "file").write_bytes(b"")
    refused(lambda: Workspace.open(tmp_path / "file"), Refusal.NOT_DIRECTORY, tmp_path)


def test_split_relative() -> None:
    assert split_relative("memory/MEMORY.md") == ("memory", "MEMORY.md")
    with pytest.raises(WorkspacePathError, match=r"'\.\.' component"):
        split_relative("a/../b")


# ---- listing and stat --------------------------------------------------------------------


def test_listing_sorts_names_and_never_follows(opened: Workspace, root: Path) -> None:
    (root / "a" / "zeta").mkdir()
    (root / "a" / "link").symlink_to("b")
    (root / "a" / ".env.local").write_bytes(SECRET)
    (root / "a" / "notes.txt").write_bytes(b"")
    os.mkfifo(root / "a" / "pipe")
    listing = {entry.name: entry.kind for entry in opened.list_dir("a")}
    assert list(listing) == ["b", "link", "notes.txt", "pipe", "zeta"]
    assert listing == {
        "b": EntryKind.DIRECTORY,
        "link": EntryKind.SYMLINK,
        "notes.txt": EntryKind.FILE,
        "pipe": EntryKind.OTHER,
        "zeta": EntryKind.DIRECTORY,
    }
    refused(lambda: opened.list_dir("a/link"), Refusal.SYMLINK, root)


def test_stat_is_the_lstat_of_what_a_read_would_reach(opened: Workspace, root: Path) -> None:
    info = opened.stat("a/b/c.md")
    expected = os.lstat(root / "a" / "b" / "c.md")
    assert (info.st_dev, info.st_ino, info.st_mtime_ns) == (
        expected.st_dev,
        expected.st_ino,
        expected.st_mtime_ns,
    )
    (root / "link.md").symlink_to("a/b/c.md")
    refused(lambda: opened.stat("link.md"), Refusal.SYMLINK, root)


# ---- writing -----------------------------------------------------------------------------


def test_write_replaces_atomically_with_private_modes(opened: Workspace, root: Path) -> None:
    old = os.umask(0)
    try:
        opened.write_bytes("a/b/c.md", b"new\n")
        opened.write_bytes("m/n/file.md", b"deep\n", make_dirs=True)
    finally:
        os.umask(old)
    assert (root / "a" / "b" / "c.md").read_bytes() == b"new\n"
    assert (root / "m" / "n" / "file.md").read_bytes() == b"deep\n"
    assert stat.S_IMODE((root / "a" / "b" / "c.md").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "m").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "m" / "n").stat().st_mode) == 0o700
    assert tree(root / "a") == ["b", "b/c.md"] and tree(root / "m") == ["n", "n/file.md"]


def test_missing_directories_are_made_only_when_asked(opened: Workspace, root: Path) -> None:
    refused(lambda: opened.write_bytes("new/file.md", b"x"), Refusal.MISSING, root)
    refused(lambda: opened.append_bytes("new/file.md", b"x"), Refusal.MISSING, root)
    assert not (root / "new").exists()


def test_a_symlink_at_the_written_name_is_replaced_not_followed(
    opened: Workspace, root: Path, tmp_path: Path
) -> None:
    target = tmp_path / "outside" / "b" / "c.md"
    (root / "a" / "b" / "c.md").unlink()
    (root / "a" / "b" / "c.md").symlink_to(target)
    opened.write_bytes("a/b/c.md", b"mine\n")
    assert not (root / "a" / "b" / "c.md").is_symlink()
    assert (root / "a" / "b" / "c.md").read_bytes() == b"mine\n"
    assert target.read_bytes() == SECRET


@pytest.mark.parametrize("make_dirs", [False, True])
@pytest.mark.parametrize("relative", ["up/x.md", "out/b/c.md", "out/new/x.md"])
def test_a_symlinked_directory_on_the_way_is_never_written_through(
    opened: Workspace, root: Path, tmp_path: Path, make_dirs: bool, relative: str
) -> None:
    outside = tmp_path / "outside"
    before = tree(outside)
    (root / "up").symlink_to("..")
    (root / "out").symlink_to(outside)
    write = functools.partial(opened.write_bytes, relative, b"x", make_dirs=make_dirs)
    append = functools.partial(opened.append_bytes, relative, b"x", make_dirs=make_dirs)
    refused(write, Refusal.SYMLINK, tmp_path)
    refused(append, Refusal.SYMLINK, tmp_path)
    assert tree(outside) == before and (outside / "b" / "c.md").read_bytes() == SECRET
    assert sorted(os.listdir(tmp_path)) == ["outside", "ws"]


def test_append_creates_then_appends(opened: Workspace, root: Path) -> None:
    old = os.umask(0)
    try:
        opened.append_bytes("log/HISTORY.md", b"one\n", make_dirs=True)
        opened.append_bytes("log/HISTORY.md", b"two\n")
    finally:
        os.umask(old)
    assert (root / "log" / "HISTORY.md").read_bytes() == b"one\ntwo\n"
    assert stat.S_IMODE((root / "log" / "HISTORY.md").stat().st_mode) == 0o600


def test_append_never_follows_a_symlink(opened: Workspace, root: Path, tmp_path: Path) -> None:
    target = tmp_path / "outside" / "b" / "c.md"
    (root / "log.md").symlink_to(target)
    refused(lambda: opened.append_bytes("log.md", b"x"), Refusal.SYMLINK, tmp_path)
    assert target.read_bytes() == SECRET


def test_a_failed_write_leaves_no_temp_file(
    opened: Workspace, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(workspace_fs.os, "fsync", no_space)
    error = refused(lambda: opened.write_bytes("a/b/c.md", b"new"), Refusal.IO, root)
    assert error.errno == errno.ENOSPC and "No space left" in str(error)
    monkeypatch.undo()
    assert tree(root / "a") == ["b", "b/c.md"]
    assert (root / "a" / "b" / "c.md").read_bytes() == b"inside\n"


# ---- ownership (the gateway as root, the workspace the sandbox account's) ------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_as_root_what_is_created_belongs_to_the_workspace_owner(root: Path) -> None:
    os.chown(root, 65534, 65534)
    with Workspace.open(root) as opened:
        assert opened.owner == (65534, 65534)
        opened.write_bytes("memory/MEMORY.md", b"m\n", make_dirs=True)
        opened.append_bytes("memory/HISTORY.md", b"h\n")
        opened.write_bytes("a/b/c.md", b"replaced\n")  # a new inode: the owner's too
    for path in ("memory", "memory/MEMORY.md", "memory/HISTORY.md", "a/b/c.md"):
        info = (root / path).stat()
        assert (info.st_uid, info.st_gid) == (65534, 65534), path
    assert (root / "a").stat().st_uid == 0  # existing directories are left alone


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_as_root_in_a_root_owned_workspace_nothing_is_chowned(root: Path) -> None:
    with Workspace.open(root) as opened:
        assert opened.owner is None
        opened.write_bytes("memory/MEMORY.md", b"m\n", make_dirs=True)
    assert (root / "memory" / "MEMORY.md").stat().st_uid == 0


# ---- the resolvers ---------------------------------------------------------------------------


def _directory_opens(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names `os.open` is called with while reading a/b/c.md."""
    names: list[str] = []
    real = os.open

    def recording(path: Any, *args: Any, **kwargs: Any) -> int:
        names.append(os.fsdecode(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(workspace_fs.os, "open", recording)
    assert workspace.read_bytes("a/b/c.md", max_bytes=100) == b"inside\n"
    monkeypatch.undo()
    return names


def test_openat2_resolves_the_directories_in_one_call(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace.open(root) as opened:
        assert opened.uses_openat2  # x86_64/aarch64, Linux >= 5.6
        assert _directory_opens(opened, monkeypatch) == ["c.md"]
    with Workspace.open(root, openat2=False) as walking:
        assert _directory_opens(walking, monkeypatch) == ["a", "b", "c.md"]


@pytest.mark.parametrize("code", [errno.ENOSYS, errno.EPERM], ids=["kernel", "seccomp"])
def test_without_openat2_the_walk_takes_over(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    calls: list[str] = []

    def missing(dir_fd: int, path: str, flags: int) -> int:
        calls.append(path)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(workspace_fs, "_openat2", missing)
    with Workspace.open(root) as opened:
        assert opened.read_bytes("a/b/c.md", max_bytes=100) == b"inside\n"
        assert not opened.uses_openat2
        (root / "a" / "b").rename(root / "a" / "real-b")
        (root / "a" / "b").symlink_to(tmp_path / "outside" / "b")
        refused(lambda: opened.read_bytes("a/b/c.md", max_bytes=100), Refusal.SYMLINK, tmp_path)
    assert calls == ["a/b"]  # asked once, then never again
