"""A size-rotated, owner-only log file (sync; the sink runs it in a worker thread).

`autobot.log` -> `autobot.log.1` -> ... -> `autobot.log.N`; the oldest is
dropped. The directory is made 0700 and the file 0600 whatever the umask;
rotated files keep 0600 because rotation only renames. The live file is
opened with `O_NOFOLLOW`: a symlink planted at the log path is refused rather
than written through.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs

from autobot.store.atomic import PRIVATE_FILE_MODE, ensure_private_dir


def _validate_max_bytes(_: object, __: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"max_bytes must be at least 1, got {value}")


def _validate_backups(_: object, __: object, value: int) -> None:
    if value < 0:
        raise ValueError(f"backups must be 0 or more, got {value}")


@attrs.define(kw_only=True)
class RotatingFile:
    """Appends lines to `path`, rotating before a line would push it past `max_bytes`.

    A single line longer than `max_bytes` is still written whole (into a fresh
    file). `backups=0` keeps no history: the file is truncated on rotation.
    `open()` must be called before `write_lines()`; raises `OSError` on I/O
    failure and `ValueError` for a non-positive `max_bytes` or negative `backups`.
    """

    path: Path
    max_bytes: int = attrs.field(validator=_validate_max_bytes)
    backups: int = attrs.field(validator=_validate_backups)
    _fd: int | None = attrs.field(default=None, init=False)
    _size: int = attrs.field(default=0, init=False)

    def open(self) -> None:
        ensure_private_dir(self.path.parent)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, PRIVATE_FILE_MODE)
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
        self._fd, self._size = fd, info.st_size

    def write_lines(self, lines: Sequence[str]) -> None:
        """Append each line plus `\\n`; consecutive lines are written in one syscall
        unless a rotation falls between them."""
        pending: list[bytes] = []
        pending_size = 0
        for line in lines:
            data = (line + "\n").encode("utf-8", errors="backslashreplace")
            if self._size + pending_size > 0 and self._size + pending_size + len(data) > (
                self.max_bytes
            ):
                self._write(b"".join(pending))
                pending, pending_size = [], 0
                self._rotate()
            pending.append(data)
            pending_size += len(data)
        self._write(b"".join(pending))

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            raise RuntimeError("RotatingFile.write_lines called before open()")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(data)

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            os.unlink(self.path)
        else:
            for index in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{index}")
                if os.path.lexists(older):
                    os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self.open()

    def close(self) -> None:
        """Flush to disk and close; safe to call twice."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
