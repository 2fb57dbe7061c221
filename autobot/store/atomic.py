"""Private (owner-only) files and directories, written atomically. All sync.

Callers in Trio code run these through `trio.to_thread.run_sync` with their own
named `CapacityLimiter`. Modes never depend on the process umask: files are
created 0600 and directories 0700 explicitly.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from autobot.security.regular_file import FileRefused, file_kind

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    """Make `path` an owner-only directory, creating missing parents.

    Every directory this call creates is chmod-ed to 0700 after `mkdir` (the
    umask cannot loosen it). Existing *parents* are left alone: they belong to
    the operator (`/home/alice`). `path` itself is autobot's by definition (the
    caller asked for a private directory), so if it already exists as a real
    directory with group/other bits they are removed. A symlink at `path` that
    leads to a directory is accepted and not chmod-ed (chmod would act on the
    link's target, which autobot does not own).

    Raises `NotADirectoryError` when `path` (or a parent) exists but is not a
    directory; other `OSError`s (permissions) propagate.
    """
    try:
        info = os.lstat(path)  # the common case: one system call
    except FileNotFoundError:
        _make_private_dirs(path)
        info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        if not path.is_dir():
            raise NotADirectoryError(f"{path} is a symlink that does not lead to a directory")
        return
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{path} exists and is not a directory")
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~PRIVATE_DIR_MODE:
        os.chmod(path, mode & PRIVATE_DIR_MODE)


def _make_private_dirs(path: Path) -> None:
    """Create `path` and its missing parents, each chmod-ed 0700 after mkdir."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # created concurrently; judged by the caller like any existing dir
        os.chmod(directory, PRIVATE_DIR_MODE)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes | str) -> None:
    """Atomically replace `path` with `data` (str is UTF-8 encoded), mode 0600.

    A temp file is created in the same directory with `O_CREAT|O_EXCL` and mode
    0600 (`tempfile.mkstemp`), written, fsync-ed, renamed over `path` with
    `os.replace`, then the directory is fsync-ed. Readers see either the old or
    the new content; on any failure the temp file is removed and the old file
    is intact. A symlink at `path` is replaced, never followed.

    The directory must exist (`FileNotFoundError` otherwise; see
    `ensure_private_dir`). Raises `OSError` on I/O failure.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    committed = False
    try:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, path)
        committed = True
    finally:
        if not committed:
            os.unlink(temp_name)
    _fsync_dir(path.parent)


def append_private_line(path: Path, line: str) -> None:
    """Append one line (a JSONL record) plus `\\n` to `path`, then fsync.

    The same as `append_private_lines(path, [line])`.
    """
    append_private_lines(path, [line])


def _open_for_append(path: Path, *, new: bool) -> tuple[int, bool]:
    """Open `path` for appending, never through a symlink; returns the fd and
    whether this call created the file (0600). With `new` (the caller expects
    no file yet) creating it is tried first, saving a failed open."""
    # O_NONBLOCK: a FIFO put in the file's place fails (ENXIO) instead of hanging
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    create = new
    while True:
        if create:
            try:
                return os.open(path, flags | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE), True
            except FileExistsError:
                create = False  # it exists (or was created concurrently): append to it
                continue
        try:
            return os.open(path, flags), False
        except FileNotFoundError:
            create = True  # a missing directory makes the creation raise


def append_private_lines(
    path: Path,
    lines: Sequence[str],
    *,
    sync: bool = True,
    new: bool = False,
    trusted_mode: bool = False,
) -> None:
    """Append `lines` (JSONL records), each plus `\\n`, with one write and one fsync.

    Every line is checked before anything is written: a line containing a
    newline or carriage return (it would split a record) raises `ValueError`
    and the file is untouched (not even created). An empty `lines` does
    nothing at all (no sync either). The records go out in one `write` call on an `O_APPEND` file
    (a regular file takes it whole), so another appender's records never land
    between them; a crash can still cut the batch short, leaving complete
    records followed by a torn one, which readers must tolerate.

    The file is opened `O_APPEND|O_NOFOLLOW`; when missing it is created with
    `O_EXCL` and mode 0600, and after the fsync of the data the directory is
    fsync-ed too, so the new file's name is as durable as its content. An
    existing file with group/other bits is tightened to owner-only first.
    Raises `OSError` on I/O failure (including when `path` is a symlink, a
    FIFO without a reader, or its directory is missing), `FileRefused` when
    an existing `path` is not a regular file (checked with its mode).

    `sync=False` skips the fsyncs: the records are in the OS page cache
    when this returns (they survive a crash of the process, not of the
    machine) and become durable with the next synced append to `path`, since
    fsync flushes everything written to the file. A file created unsynced
    gets no directory fsync; its name is made durable by that later file
    fsync on the journaling filesystems Linux uses (ext4, xfs, btrfs commit
    a new file's directory entry with its first fsync).

    Two hints save system calls on a hot path, never safety: `new` says the
    file is probably missing (creation is tried first); `trusted_mode` says
    the caller already saw this existing file tightened in this process, so
    its mode is not checked again (a file this call creates always is).
    """
    if any("\n" in line or "\r" in line for line in lines):
        raise ValueError("a journal line must not contain a newline or carriage return")
    if not lines:
        return
    payload = "".join(f"{line}\n" for line in lines).encode("utf-8")
    fd, created = _open_for_append(path, new=new)
    try:
        if created or not trusted_mode:
            _make_owner_only(fd, created)
        _write_all(fd, payload)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if created and sync:
        _fsync_dir(path.parent)


def complete_lines(data: bytes) -> bytes:
    """`data` up to and including its last newline: without a torn last line
    (a write cut short by a crash)."""
    return data[: data.rfind(b"\n") + 1]


def _make_owner_only(fd: int, created: bool) -> None:
    """A file this call created is set to exactly 0600 (whatever the umask); an
    existing one must be a regular file (`FileRefused`) and loses any
    group/other bits."""
    if created:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        return
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"is {file_kind(info.st_mode)}, not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~PRIVATE_FILE_MODE:
        os.fchmod(fd, mode & PRIVATE_FILE_MODE)
