"""open_regular / read_regular_file: regular files only, never blocking, bounded."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from autobot.security.regular_file import (
    FileRefused,
    file_kind,
    open_regular,
    read_fd,
    read_regular_file,
)


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 3_000_000)  # several read calls
    assert read_regular_file(path, limit=None) == b"a" * 3_000_000
    assert read_regular_file(path, limit=3_000_000) == b"a" * 3_000_000


def test_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 11)
    with pytest.raises(FileRefused, match=r"^is larger than the limit of 10 bytes$"):
        read_regular_file(path, limit=10)


def test_at_most_limit_plus_one_bytes_are_read() -> None:
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"z" * 1000)
        with pytest.raises(FileRefused):
            read_fd(read_end, limit=100)
        os.set_blocking(read_end, False)
        assert len(os.read(read_end, 10_000)) == 1000 - 101  # the rest was never read
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_fifo_without_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # a plain open() would wait for a writer forever; the test would hang
    with pytest.raises(FileRefused, match=r"^is a FIFO \(named pipe\), not a regular file$"):
        read_regular_file(fifo, limit=None)


def test_a_fifo_opened_for_writing_without_reader_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match=r"^is a FIFO \(named pipe\), not a regular file$"):
        open_regular(fifo, flags=os.O_WRONLY)


def test_a_fifo_with_a_writer_is_refused_before_any_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"data")
        with pytest.raises(FileRefused, match="FIFO"):
            read_regular_file(fifo, limit=None)
        assert os.read(reader, 100) == b"data"  # nothing was consumed
    finally:
        os.close(writer)
        os.close(reader)


@pytest.mark.parametrize(
    ("device", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")]
)
def test_devices_are_refused(device: str, kind: str) -> None:
    with pytest.raises(FileRefused, match=f"^is {kind}, not a regular file$"):
        read_regular_file(Path(device), limit=None)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match=r"^is a directory, not a regular file$"):
        read_regular_file(tmp_path, limit=None)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        # open() of a socket fails (ENXIO); the reason still says what it is
        with pytest.raises(FileRefused, match=r"^is a socket, not a regular file$"):
            read_regular_file(path, limit=None)
    assert file_kind(os.lstat(path).st_mode) == "a socket"


def test_symlinks_are_followed_only_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"content")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert read_regular_file(link, limit=None) == b"content"
    with pytest.raises(FileRefused, match=r"^is a symbolic link, which is never followed$"):
        open_regular(link, follow_symlinks=False)


def test_a_symlink_to_a_fifo_is_refused_either_way(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    with pytest.raises(FileRefused, match="FIFO"):
        read_regular_file(link, limit=None)
    with pytest.raises(FileRefused, match="symbolic link"):
        open_regular(link, follow_symlinks=False)


def test_missing_files_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "nope", limit=None)
    (tmp_path / "dangling").symlink_to(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "dangling", limit=None)


def test_refusals_close_the_descriptor(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        with pytest.raises(FileRefused):
            read_regular_file(tmp_path, limit=None)
    assert len(os.listdir("/proc/self/fd")) == before
