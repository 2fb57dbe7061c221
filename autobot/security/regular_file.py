"""Open and read a file only if it is a regular file: never blocking, bounded (sync).

Used where autobot reads files an operator (or a mistake) may have replaced
with something else: `config.yml`, `.env`, session journals. A FIFO there
would hang the reader forever, `/dev/zero` would fill memory, a directory or a
socket makes no sense. `open_regular` opens with `O_NONBLOCK` (opening a FIFO
or a device returns at once instead of waiting for a writer or a carrier),
`O_NOCTTY` and `O_CLOEXEC`, optionally `O_NOFOLLOW`, and then `fstat`s the
descriptor it got: what is checked is what is read, whatever the path points
to a moment later. `read_fd` reads at most `limit + 1` bytes, so a file that
grows while it is read, or a size that `st_size` misstates, still cannot
exceed the limit.

Callers name the file in their own words: `FileRefused` says only what was
found (`is a FIFO (named pipe), not a regular file`), never the path.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# One read call's size: large enough that a config or a journal is a few calls.
_CHUNK_BYTES = 1 << 20

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


class FileRefused(ValueError):
    """The file exists but is not read: not a regular file, a symbolic link
    where none is followed, or larger than the limit. `str()` is the reason,
    worded to follow the file's name ("is a directory, not a regular file")."""


class SymlinkRefused(FileRefused):
    """A symbolic link where none is followed."""


class FileTooLarge(FileRefused):
    """More bytes than the limit."""


def file_kind(mode: int) -> str:
    """What `mode` (an `st_mode`) is, with its article: "a FIFO (named pipe)"."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a regular file" if stat.S_ISREG(mode) else "an unknown kind of file"


def open_regular(path: Path, *, flags: int = os.O_RDONLY, follow_symlinks: bool = True) -> int:
    """A descriptor on `path`, which is a regular file: the caller closes it.

    `flags` are the access flags (`os.O_RDONLY`, `os.O_WRONLY`...); `O_NONBLOCK`,
    `O_NOCTTY` and `O_CLOEXEC` are always added, and `O_NOFOLLOW` unless
    `follow_symlinks` (only the last component: a symbolic link there is
    refused, never followed). Raises `FileRefused` when the file is not a
    regular file (`SymlinkRefused`: a refused symbolic link), `OSError` when it cannot be
    opened (`FileNotFoundError` when it does not exist).
    """
    extra = os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if not follow_symlinks:
        extra |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags | extra)
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_symlinks and os.path.islink(path):
            raise SymlinkRefused("is a symbolic link, which is never followed") from None
        if error.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing with no reader
            raise FileRefused(_not_regular(path, follow_symlinks)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"is {file_kind(mode)}, not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _not_regular(path: Path, follow_symlinks: bool) -> str:
    """The reason for a path that could not even be opened (ENXIO)."""
    try:
        mode = os.stat(path, follow_symlinks=follow_symlinks).st_mode
    except OSError:
        return "is not a regular file"
    return f"is {file_kind(mode)}, not a regular file"


def read_fd(fd: int, *, limit: int | None) -> bytes:
    """Everything left to read on `fd`, up to `limit` bytes (None: no limit).

    Raises `FileTooLarge` once more than `limit` bytes arrive (at most
    `limit + 1` are read), `OSError` when a read fails.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        wanted = _CHUNK_BYTES if limit is None else min(_CHUNK_BYTES, limit + 1 - total)
        chunk = os.read(fd, wanted)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise FileTooLarge(f"is larger than the limit of {limit:,} bytes")


def read_regular_file(path: Path, *, limit: int | None) -> bytes:
    """The content of the regular file at `path` (a symbolic link to one is
    followed), at most `limit` bytes.

    `open_regular` then `read_fd`; raises what they raise.
    """
    fd = open_regular(path)
    try:
        return read_fd(fd, limit=limit)
    finally:
        os.close(fd)
