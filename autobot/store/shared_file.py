"""A state file that processes change in turn, under a lock, and read at any time (sync).

The cron store and the pairing store keep their book this way: the gateway
and an `autobot` command may change it at the same moment.

- A change is a transaction under `SharedFile.locked()`: an exclusive
  `flock` on a separate lock file (created 0600, never through a symbolic
  link, never replaced; opened without waiting on a FIFO, and refused unless
  it is a regular file). `flock` locks belong to the open file, so two
  holders in one process exclude each other as two processes do. The owner
  reads the file fresh (`read`), computes the successor and replaces the file
  atomically (`store.atomic.write_private_file`: 0600 temp file, fsync,
  rename), so two writers never lose each other's change.
- Reading needs no lock: a rename is atomic, readers see the old or the new
  version. `stamp()` costs one `lstat`: the file's device, inode, size,
  mtime and ctime, None when there is no file. It changes with every
  replacement (a new inode: the loaded file is held open, so its inode cannot
  be reused by a later version) and with an edit in place (size or times;
  an edit of the same size within one timestamp tick shows at the next
  change); `load()` reads the file again only when its stamp changed.
- A file that is not a regular file (a symbolic link is never followed, a
  FIFO never blocks the reader), is larger than `limit` or is refused by
  `decode` raises the owner's error naming the file and the problem; it is
  never written over by anything here.

All methods block (file I/O, `flock`): Trio code calls them through
`trio.to_thread.run_sync` with a named `CapacityLimiter`. A `SharedFile` has
one owner (not thread-safe), who releases the held file with `close()`.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

import attrs

from autobot.security.regular_file import (
    FileRefused,
    FileTooLarge,
    file_kind,
    open_regular,
    read_fd,
)
from autobot.store.atomic import PRIVATE_FILE_MODE

V = TypeVar("V")
Stamp = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns


def reason_of(error: OSError) -> str:
    """An `OSError` in words ("Permission denied"), without the path."""
    return error.strerror or str(error)


def _as_found(refused: FileRefused) -> str:
    return f"it {refused}"


@attrs.define
class _Held(Generic[V]):
    fd: int  # the loaded file, held open so that its inode is not reused
    stamp: Stamp
    value: V


@attrs.define(kw_only=True)
class SharedFile(Generic[V]):
    """The value kept in the file `path` (see the module docstring).

    `decode` turns the file's content into the value, raising `ValueError`
    worded to follow the file's name; `empty` is the value while there is no
    file. Every problem raises `error(message)`: "NAME store PATH is
    unusable: PROBLEM. It was left untouched; fix or remove it (until then
    UNTIL_FIXED)", "cannot open the NAME lock LOCK_PATH: REASON" or "cannot
    use the NAME lock LOCK_PATH: it is A FIFO (named pipe), not a regular
    file". `refusal` words a file that is not read ("it is a directory, not
    a regular file" unless the owner words it otherwise).
    """

    path: Path
    lock_path: Path
    limit: int
    decode: Callable[[bytes], V]
    empty: V
    name: str
    until_fixed: str
    error: Callable[[str], Exception]
    refusal: Callable[[FileRefused], str] = _as_found
    _held: _Held[V] | None = attrs.field(default=None, init=False)

    def stamp(self) -> Stamp | None:
        """What identifies the file's current version (None: no file): two
        equal stamps mean nobody changed it in between. Taken before a load,
        a change made during the load shows at the next stamp."""
        try:
            return _stamp_of(os.lstat(self.path))
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._unusable(error) from error

    def load(self) -> V:
        """The value as the file holds it now, `empty` when there is no file
        (nothing is created); read again only when the stamp changed."""
        stamp = self.stamp()
        if stamp is None:
            self.close()
            return self.empty
        if self._held is not None and self._held.stamp == stamp:
            return self._held.value
        return self.read()

    def read(self) -> V:
        """The value as the file holds it now, always read afresh (what a
        transaction starts from); `empty` when there is no file."""
        try:
            fd = open_regular(self.path, follow_symlinks=False)
        except FileNotFoundError:
            self.close()
            return self.empty
        except (OSError, FileRefused) as error:
            raise self._unusable(error) from error
        try:
            info, value = self._decoded(fd)
        except BaseException:
            os.close(fd)
            raise
        self.close()
        self._held = _Held(fd=fd, stamp=_stamp_of(info), value=value)
        return value

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock for the block (creating the lock file)."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.lock_path, flags, PRIVATE_FILE_MODE)
        except OSError as error:
            raise self.error(
                f"cannot open the {self.name} lock {self.lock_path}: {reason_of(error)}"
            ) from error
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise self.error(
                    f"cannot use the {self.name} lock {self.lock_path}: it is {file_kind(mode)},"
                    " not a regular file"
                )
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
            yield
        finally:
            os.close(fd)

    def close(self) -> None:
        """Release the held file (the value is read again when next asked for)."""
        if self._held is not None:
            os.close(self._held.fd)
            self._held = None

    def _decoded(self, fd: int) -> tuple[os.stat_result, V]:
        """The open file's status and value; raises `error` for what it refuses."""
        try:
            info = os.fstat(fd)
            if info.st_size > self.limit:
                raise FileTooLarge(f"is larger than {self.limit} bytes")
            return info, self.decode(read_fd(fd, limit=self.limit))
        except (OSError, ValueError) as error:
            raise self._unusable(error) from error

    def _unusable(self, error: OSError | ValueError) -> Exception:
        if isinstance(error, FileRefused):
            problem = self.refusal(error)
        elif isinstance(error, OSError):
            problem = reason_of(error)
        else:
            problem = str(error)
        return self.error(
            f"{self.name} store {self.path} is unusable: {problem}."
            f" It was left untouched; fix or remove it (until then {self.until_fixed})"
        )


def _stamp_of(info: os.stat_result) -> Stamp:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
