"""Atomic private writes: modes regardless of umask, old-or-new content, no temp debris."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.store.atomic import (
    append_private_line,
    append_private_lines,
    ensure_private_dir,
    write_private_file,
)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def test_write_creates_0600_file_under_permissive_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    target = tmp_path / "sessions.json"
    write_private_file(target, "hello")
    assert target.read_text() == "hello"
    assert mode_of(target) == 0o600


def test_write_replaces_content_and_tightens_an_existing_loose_file(tmp_path: Path) -> None:
    target = tmp_path / "cron.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private_file(target, b"new\x00bytes")
    assert target.read_bytes() == b"new\x00bytes"
    assert mode_of(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cron.json"]


def test_write_replaces_a_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "store.json"
    link.symlink_to(victim)
    write_private_file(link, "data")
    assert victim.read_text() == "precious"
    assert not link.is_symlink()
    assert link.read_text() == "data"


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failure_mid_write_keeps_old_content_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "cron.json"
    write_private_file(target, "old content")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(OSError, match="No space left"):
        write_private_file(target, "new content that never lands")
    monkeypatch.undo()
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cron.json"]


def test_write_into_missing_directory_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private_file(tmp_path / "missing" / "f.json", "x")
    assert list(tmp_path.iterdir()) == []


def test_ensure_private_dir_creates_every_missing_level_0700(
    tmp_path: Path, permissive_umask: None
) -> None:
    parent = tmp_path / "operator"
    parent.mkdir(mode=0o755)
    parent.chmod(0o755)
    leaf = parent / "bot" / "logs"
    ensure_private_dir(leaf)
    assert mode_of(parent / "bot") == 0o700
    assert mode_of(leaf) == 0o700
    assert mode_of(parent) == 0o755  # the operator's existing directory is left alone


def test_ensure_private_dir_tightens_an_existing_loose_leaf(tmp_path: Path) -> None:
    leaf = tmp_path / "logs"
    leaf.mkdir()
    leaf.chmod(0o777)
    ensure_private_dir(leaf)
    assert mode_of(leaf) == 0o700
    ensure_private_dir(leaf)  # idempotent
    assert mode_of(leaf) == 0o700


def test_ensure_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("not a dir")
    with pytest.raises(NotADirectoryError):
        ensure_private_dir(tmp_path / "logs")


def test_ensure_private_dir_does_not_chmod_a_symlink_target(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared"
    elsewhere.mkdir()
    elsewhere.chmod(0o755)
    link = tmp_path / "logs"
    link.symlink_to(elsewhere)
    ensure_private_dir(link)
    assert mode_of(elsewhere) == 0o755
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(NotADirectoryError):
        ensure_private_dir(dangling)


def test_append_private_line_appends_records_0600(tmp_path: Path, permissive_umask: None) -> None:
    journal = tmp_path / "inbound.jsonl"
    append_private_line(journal, '{"n": 1}')
    append_private_line(journal, '{"n": 2}')
    assert journal.read_text() == '{"n": 1}\n{"n": 2}\n'
    assert mode_of(journal) == 0o600


def test_append_private_line_tightens_existing_loose_file(tmp_path: Path) -> None:
    journal = tmp_path / "inbound.jsonl"
    journal.write_text("a\n")
    journal.chmod(0o664)
    append_private_line(journal, "b")
    assert journal.read_text() == "a\nb\n"
    assert mode_of(journal) == 0o600


@pytest.mark.parametrize("bad", ["two\nlines", "carriage\rreturn", "trailing\n"])
def test_append_rejects_multiline_and_writes_nothing(tmp_path: Path, bad: str) -> None:
    journal = tmp_path / "inbound.jsonl"
    journal.write_text("kept\n")
    with pytest.raises(ValueError, match="newline"):
        append_private_line(journal, bad)
    assert journal.read_text() == "kept\n"


def test_append_refuses_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "inbound.jsonl"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        append_private_line(link, "attack")
    assert victim.read_text() == "precious\n"


class _SyscallSpy:
    """Counts os.write/os.fsync calls per path (fd resolved through /proc)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[str] = []
        self.fsyncs: list[str] = []
        real_write, real_fsync = os.write, os.fsync

        def write(fd: int, data: bytes) -> int:
            self.writes.append(os.readlink(f"/proc/self/fd/{fd}"))
            return real_write(fd, data)

        def fsync(fd: int) -> None:
            self.fsyncs.append(os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(os, "fsync", fsync)


def test_append_lines_is_one_write_and_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "s.jsonl"
    journal.write_text("old\n")
    spy = _SyscallSpy(monkeypatch)
    append_private_lines(journal, ["a", '{"b": 2}', "c ☃"])
    assert journal.read_text() == 'old\na\n{"b": 2}\nc ☃\n'
    assert spy.writes == [str(journal)]
    assert spy.fsyncs == [str(journal)]  # existing file: no directory fsync


def test_a_new_file_gets_its_directory_fsynced_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "new.jsonl"
    spy = _SyscallSpy(monkeypatch)
    append_private_lines(journal, ["x"])
    assert spy.fsyncs == [str(journal), str(tmp_path)]


def test_unsynced_append_writes_without_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "s.jsonl"
    spy = _SyscallSpy(monkeypatch)
    append_private_lines(journal, ["early"], sync=False)
    assert journal.read_text() == "early\n"  # visible to readers (and a restart) at once
    assert spy.fsyncs == []
    append_private_lines(journal, ["late"])
    assert journal.read_text() == "early\nlate\n"
    assert spy.fsyncs == [str(journal)]


@pytest.mark.parametrize("bad_index", [0, 1, 2])
def test_one_bad_line_rejects_the_whole_batch(tmp_path: Path, bad_index: int) -> None:
    journal = tmp_path / "s.jsonl"
    lines = ["a", "b", "c"]
    lines[bad_index] = "split\nrecord"
    with pytest.raises(ValueError, match="newline"):
        append_private_lines(journal, lines)
    assert not journal.exists()  # not even created
    journal.write_text("kept\n")
    with pytest.raises(ValueError, match="newline"):
        append_private_lines(journal, lines)
    assert journal.read_text() == "kept\n"


def test_empty_batch_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _SyscallSpy(monkeypatch)
    append_private_lines(tmp_path / "s.jsonl", [])
    assert not (tmp_path / "s.jsonl").exists()
    assert spy.writes == spy.fsyncs == []


def test_new_file_is_exactly_0600_even_under_a_strict_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)  # would leave 0400 without the explicit chmod
    try:
        append_private_lines(tmp_path / "s.jsonl", ["x"])
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "s.jsonl") == 0o600


def test_batched_append_refuses_a_symlink_and_a_dangling_one(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "link").symlink_to(victim)
    (tmp_path / "dangling").symlink_to(tmp_path / "created-through-link")
    for name in ("link", "dangling"):
        with pytest.raises(OSError):
            append_private_lines(tmp_path / name, ["attack"], sync=False)
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "created-through-link").exists()


@pytest.mark.parametrize("new", [False, True])
def test_the_new_hint_never_clobbers_and_never_follows_a_symlink(tmp_path: Path, new: bool) -> None:
    journal = tmp_path / "s.jsonl"
    journal.write_text("kept\n")
    append_private_lines(journal, ["added"], new=new)
    assert journal.read_text() == "kept\nadded\n"
    fresh = tmp_path / "fresh.jsonl"
    append_private_lines(fresh, ["first"], new=not new)
    assert fresh.read_text() == "first\n" and mode_of(fresh) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(OSError):
        append_private_lines(tmp_path / "link", ["attack"], new=new)
    assert victim.read_text() == "precious\n"


def test_trusted_mode_skips_only_the_check_of_an_existing_file(tmp_path: Path) -> None:
    loose = tmp_path / "loose.jsonl"
    loose.write_text("")
    loose.chmod(0o644)
    append_private_lines(loose, ["x"], trusted_mode=True)
    assert mode_of(loose) == 0o644  # the caller vouched for it: not checked
    append_private_lines(loose, ["y"])
    assert mode_of(loose) == 0o600
    old = os.umask(0o277)
    try:
        append_private_lines(tmp_path / "created.jsonl", ["z"], trusted_mode=True)
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "created.jsonl") == 0o600  # a created file always is
