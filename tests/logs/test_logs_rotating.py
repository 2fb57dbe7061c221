"""RotatingFile: 0600/0700 whatever the umask, size rotation, oldest dropped."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.logs.rotating import RotatingFile


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def test_creates_private_dir_and_file_under_permissive_umask(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "bot" / "logs" / "autobot.log"
    log = RotatingFile(path=path, max_bytes=1000, backups=2)
    log.open()
    log.write_lines(["one", "two"])
    log.close()
    log.close()  # idempotent
    assert path.read_text() == "one\ntwo\n"
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) == 0o700
    assert mode_of(path.parent.parent) == 0o700


def test_reopening_appends_and_tightens_a_loose_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "autobot.log"
    path.write_text("old\n")
    path.chmod(0o644)
    log = RotatingFile(path=path, max_bytes=1000, backups=1)
    log.open()
    log.write_lines(["new"])
    log.close()
    assert path.read_text() == "old\nnew\n"
    assert mode_of(path) == 0o600


def test_rotation_shifts_backups_and_drops_the_oldest(
    tmp_path: Path, permissive_umask: None
) -> None:
    path = tmp_path / "autobot.log"
    log = RotatingFile(path=path, max_bytes=10, backups=2)  # "lineN\n" is 6 bytes
    log.open()
    log.write_lines(["line1", "line2", "line3"])
    log.write_lines(["line4"])
    log.close()
    assert path.read_text() == "line4\n"
    assert (tmp_path / "autobot.log.1").read_text() == "line3\n"
    assert (tmp_path / "autobot.log.2").read_text() == "line2\n"  # line1 was dropped
    assert not (tmp_path / "autobot.log.3").exists()
    for name in ("autobot.log", "autobot.log.1", "autobot.log.2"):
        assert mode_of(tmp_path / name) == 0o600


def test_size_counts_existing_content_and_long_lines_are_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "autobot.log"
    path.write_text("12345678\n")  # 9 bytes already
    log = RotatingFile(path=path, max_bytes=10, backups=1)
    log.open()
    log.write_lines(["x" * 25])
    log.close()
    assert path.read_text() == "x" * 25 + "\n"
    assert (tmp_path / "autobot.log.1").read_text() == "12345678\n"


def test_zero_backups_truncates(tmp_path: Path) -> None:
    path = tmp_path / "autobot.log"
    log = RotatingFile(path=path, max_bytes=8, backups=0)
    log.open()
    log.write_lines(["aaaa", "bbbb"])
    log.close()
    assert path.read_text() == "bbbb\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autobot.log"]


def test_a_symlink_at_the_log_path_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "bashrc"
    victim.write_text("safe\n")
    (tmp_path / "autobot.log").symlink_to(victim)
    log = RotatingFile(path=tmp_path / "autobot.log", max_bytes=100, backups=1)
    with pytest.raises(OSError):
        log.open()
    assert victim.read_text() == "safe\n"


@pytest.mark.parametrize(("max_bytes", "backups"), [(0, 1), (-5, 1), (10, -1)])
def test_bad_limits_are_rejected(tmp_path: Path, max_bytes: int, backups: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        RotatingFile(path=tmp_path / "a.log", max_bytes=max_bytes, backups=backups)
    assert list(tmp_path.iterdir()) == []


def test_write_before_open_is_an_error(tmp_path: Path) -> None:
    log = RotatingFile(path=tmp_path / "a.log", max_bytes=100, backups=1)
    with pytest.raises(RuntimeError, match="before open"):
        log.write_lines(["x"])
