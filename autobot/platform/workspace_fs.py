"""`Workspace`: every host-side read and write inside a workspace, check and use in one step.

The model controls the workspace: through exec it can create, rename, link and swap
(`renameat2(RENAME_EXCHANGE)`) files at any moment. So the gateway never checks a path
and then uses it by name. `Workspace.open` opens the workspace root once as a directory
descriptor (following the operator's own path to it), and every path below it is
reached from that descriptor:

- the directories on the way with one `openat2` (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
  RESOLVE_NO_MAGICLINKS`) where the kernel has it (called by number on x86_64 and
  aarch64), else with one `openat(O_NOFOLLOW | O_DIRECTORY)` per component, each
  relative to the last;
- the last component relative to the opened directory with `O_NOFOLLOW`, then `fstat`-ed:
  only a regular file is read, up to a size cap; opens are `O_NONBLOCK` (a FIFO never
  blocks) and `O_NOCTTY`;
- replacing a file: a temp file created `O_CREAT | O_EXCL | O_NOFOLLOW` in the opened
  directory, written and fsync-ed, then renamed over the name relative to that same
  directory (`renameat`); on any failure the temp file is removed, relative to it too;
- appending: `O_APPEND | O_NOFOLLOW` relative to the opened directory, `fstat`-ed regular;
  a missing file is created `O_EXCL`.
- creating a new file (never replacing one): `O_CREAT | O_EXCL | O_NOFOLLOW` relative to
  the opened directory; a name already taken, by a symlink too, is refused.

A relative path is `/`-separated names: no absolute path, no empty, `.` or `..` part, no
NUL, and no dotenv name (`is_env_file_name`) at any component. Missing directories can be
created one component at a time (`mkdir` relative to the parent descriptor, then opened
`O_NOFOLLOW`), mode 0700; new files are 0600, whatever the umask. When the gateway runs as
root and the workspace root belongs to another account (the sandbox's), every file and
directory it creates is given the root's owner with `fchown` on its descriptor.

Every failure raises `WorkspacePathError` (an `OSError`, errno kept), whose message names
the relative path and the reason, never the host path. All calls are blocking.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import attrs

from autobot.security.paths import is_env_file_name
from autobot.security.regular_file import file_kind

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700

# openat2(2): the syscall number is the asm-generic one, shared by these architectures.
OPENAT2_MACHINES = frozenset({"x86_64", "aarch64"})
SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS

# The kernel has no openat2 (ENOSYS), or a seccomp filter older than it refuses
# it (EPERM, Docker's default for unknown calls): the fd walk does the same job.
_OPENAT2_MISSING = frozenset({errno.ENOSYS, errno.EPERM})
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LEAF_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_READ_CHUNK = 1 << 20
# The C library's `syscall` entry point: a binding made once (a CDLL per call
# costs more than the openat2 it makes), never changed.
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long
_OPENAT2_BY_NUMBER = os.uname().machine in OPENAT2_MACHINES


class Refusal(enum.Enum):
    """Why a workspace path was refused."""

    INVALID = "invalid"  # not a plain relative path
    DOTENV = "dotenv"  # a component has a dotenv name
    SYMLINK = "symlink"  # a component is a symlink
    NOT_DIRECTORY = "not_directory"  # a component on the way is not a directory
    NOT_REGULAR = "not_regular"  # a directory, FIFO, socket or device
    TOO_LARGE = "too_large"
    OUTSIDE = "outside"  # the kernel saw the path leave the workspace
    MISSING = "missing"
    EXISTS = "exists"  # a new file's name is taken (by anything, a symlink included)
    IO = "io"  # any other failure; the exception keeps the system's errno


_ERRNO = {
    Refusal.INVALID: errno.EINVAL,
    Refusal.DOTENV: errno.EACCES,
    Refusal.SYMLINK: errno.ELOOP,
    Refusal.NOT_DIRECTORY: errno.ENOTDIR,
    Refusal.NOT_REGULAR: errno.EINVAL,
    Refusal.TOO_LARGE: errno.EFBIG,
    Refusal.OUTSIDE: errno.EXDEV,
    Refusal.MISSING: errno.ENOENT,
    Refusal.EXISTS: errno.EEXIST,
    Refusal.IO: errno.EIO,
}


class WorkspacePathError(OSError):
    """A workspace path was refused or its I/O failed.

    `relative` is the path as asked, `refusal` the reason; `errno` is the
    system's error number (or the refusal's). The message names only those.
    """

    def __init__(self, relative: str, refusal: Refusal, detail: str, code: int = 0) -> None:
        super().__init__(code or _ERRNO[refusal], detail)
        self.relative = relative
        self.refusal = refusal
        self.detail = detail

    def __str__(self) -> str:
        return f"workspace path {self.relative!r}: {self.detail}"


_REFUSAL_BY_ERRNO = {
    errno.ENOENT: Refusal.MISSING,
    errno.EEXIST: Refusal.EXISTS,
    errno.ELOOP: Refusal.SYMLINK,
    errno.ENOTDIR: Refusal.NOT_DIRECTORY,
    errno.EXDEV: Refusal.OUTSIDE,
    errno.ENXIO: Refusal.NOT_REGULAR,  # a socket, or a FIFO without a reader (write)
    errno.EISDIR: Refusal.NOT_REGULAR,  # a directory opened or renamed over as a file
}


def _where(relative: str, component: str | None) -> str:
    """The prefix naming the component a refusal is about, unless it is the whole path."""
    return "" if component is None or component == relative else f"{component!r}: "


def _from_os_error(relative: str, exc: OSError, component: str | None) -> WorkspacePathError:
    """The refusal for a system error; `component` names the part it hit, when known."""
    refusal = _REFUSAL_BY_ERRNO.get(exc.errno or 0, Refusal.IO)
    where = _where(relative, component)
    if refusal is Refusal.IO:
        detail = exc.strerror or "I/O error"
    elif refusal is Refusal.SYMLINK:
        detail = "is a symlink" if component else "a component is a symlink"
    elif refusal is Refusal.OUTSIDE:
        detail = "leads outside the workspace"
    elif refusal is Refusal.NOT_DIRECTORY:
        detail = "is not a directory" if component else "a component is not a directory"
    elif refusal is Refusal.NOT_REGULAR:
        detail = "is not a regular file"
    elif refusal is Refusal.EXISTS:
        detail = "already exists"
    else:
        detail = "does not exist" if component else "a component does not exist"
    return WorkspacePathError(relative, refusal, where + detail, exc.errno or 0)


@contextlib.contextmanager
def _failures(relative: str, component: str | None = None) -> Iterator[None]:
    """Turns any bare OSError raised inside into a WorkspacePathError."""
    try:
        yield
    except WorkspacePathError:
        raise
    except OSError as exc:
        raise _from_os_error(relative, exc, component) from None


def split_relative(relative: str) -> tuple[str, ...]:
    """The names of a workspace path; raises WorkspacePathError (INVALID, DOTENV)."""
    if not relative or relative.startswith("/") or "\0" in relative:
        raise WorkspacePathError(relative, Refusal.INVALID, "not a relative path")
    parts = tuple(relative.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            raise WorkspacePathError(relative, Refusal.INVALID, f"has a {part!r} component")
        if is_env_file_name(part):
            raise WorkspacePathError(relative, Refusal.DOTENV, f"{part!r} is a dotenv name")
    return parts


class EntryKind(enum.Enum):
    """What a directory entry is, without following symlinks."""

    DIRECTORY = "directory"
    FILE = "file"
    SYMLINK = "symlink"
    OTHER = "other"


@attrs.frozen
class Entry:
    """One entry of a workspace directory."""

    name: str
    kind: EntryKind


def _kind(entry: os.DirEntry[str]) -> EntryKind:
    if entry.is_symlink():
        return EntryKind.SYMLINK
    if entry.is_dir(follow_symlinks=False):
        return EntryKind.DIRECTORY
    if entry.is_file(follow_symlinks=False):
        return EntryKind.FILE
    return EntryKind.OTHER


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _openat2(dir_fd: int, path: str, flags: int) -> int:
    """openat2(2) with `RESOLVE`; raises OSError (ENOSYS where the kernel lacks it)."""
    if not _OPENAT2_BY_NUMBER:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    how = _OpenHow(flags, 0, RESOLVE)
    fd = _LIBC.syscall(
        ctypes.c_long(SYS_OPENAT2),
        ctypes.c_int(dir_fd),
        ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return int(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@attrs.define(eq=False)
class Workspace:
    """An open workspace root (a directory descriptor); `close` it, or use `with`.

    `uses_openat2` says whether directories are resolved with openat2; it turns
    False for good the first time the call is refused as unknown (ENOSYS, or
    EPERM from a seccomp filter): the fd walk takes over. `owner` is the (uid, gid) given to what this creates, or None.
    A Workspace is used by one thread at a time.
    """

    fd: int
    owner: tuple[int, int] | None
    uses_openat2: bool

    @classmethod
    def open(cls, root: Path, *, openat2: bool = True) -> Workspace:
        """Open the workspace directory `root` (symlinks in `root` itself are the
        operator's and are followed). `openat2=False` forces the fd walk.
        Raises WorkspacePathError (relative path '.') when it cannot be opened."""
        with _failures(".", "."):
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with _failures(".", "."):
                info = os.fstat(fd)
        except WorkspacePathError:
            os.close(fd)
            raise
        owner = (info.st_uid, info.st_gid)
        chown = os.geteuid() == 0 and owner != (os.geteuid(), os.getegid())
        return cls(fd, owner if chown else None, openat2)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def directory(self, relative: str, *, make_dirs: bool = False) -> Workspace:
        """The directory `relative` opened as a Workspace of its own (same owner
        and resolver; the caller closes it): several files in one directory,
        reached once. `make_dirs` creates it (and its parents) when missing.
        Raises WorkspacePathError."""
        parts = split_relative(relative)
        fd = self._directory(relative, parts, create=make_dirs)
        return Workspace(fd, self.owner, self.uses_openat2)

    # ---- reading ---------------------------------------------------------------------

    def read_bytes(self, relative: str, *, max_bytes: int, truncate: bool = False) -> bytes:
        """The content of the regular file `relative`.

        A file larger than `max_bytes` is refused (TOO_LARGE), or with
        `truncate` its first `max_bytes` bytes are returned. Raises
        WorkspacePathError for every refusal and I/O failure.
        """
        parts = split_relative(relative)
        directory = self._directory(relative, parts[:-1], create=False)
        try:
            with _failures(relative, parts[-1]):
                fd = os.open(parts[-1], os.O_RDONLY | _LEAF_FLAGS, dir_fd=directory)
        finally:
            os.close(directory)
        try:
            with _failures(relative):
                _require_regular(relative, fd)
                if not truncate and os.fstat(fd).st_size > max_bytes:
                    raise _too_large(relative, max_bytes)
                limit = max_bytes if truncate else max_bytes + 1  # + 1: a file that grew
                data = bytearray()
                while len(data) < limit:
                    chunk = os.read(fd, min(limit - len(data), _READ_CHUNK))
                    if not chunk:
                        break
                    data += chunk
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise _too_large(relative, max_bytes)
        return bytes(data)

    def stat(self, relative: str) -> os.stat_result:
        """The `lstat` of `relative`, reached without following any symlink; a
        symlink there is refused too (SYMLINK). Raises WorkspacePathError."""
        parts = split_relative(relative)
        directory = self._directory(relative, parts[:-1], create=False)
        try:
            with _failures(relative, parts[-1]):
                info = os.stat(parts[-1], dir_fd=directory, follow_symlinks=False)
        finally:
            os.close(directory)
        if stat.S_ISLNK(info.st_mode):
            detail = _where(relative, parts[-1]) + "is a symlink"
            raise WorkspacePathError(relative, Refusal.SYMLINK, detail)
        return info

    def list_dir(self, relative: str) -> tuple[Entry, ...]:
        """The entries of the directory `relative`, sorted by name; dotenv names
        are left out. Raises WorkspacePathError."""
        parts = split_relative(relative)
        directory = self._directory(relative, parts, create=False)
        try:
            with _failures(relative), os.scandir(directory) as entries:
                found = [
                    Entry(entry.name, _kind(entry))
                    for entry in entries
                    if not is_env_file_name(entry.name)
                ]
        finally:
            os.close(directory)
        return tuple(sorted(found, key=lambda entry: entry.name))

    # ---- writing ---------------------------------------------------------------------

    def write_bytes(self, relative: str, data: bytes, *, make_dirs: bool = False) -> None:
        """Atomically replace `relative` with `data` (a new 0600 file; a symlink
        at that name is replaced, never followed). `make_dirs` creates missing
        directories on the way. Raises WorkspacePathError; a failure before the
        rename leaves the old file intact, and no failure leaves a temp file."""
        parts = split_relative(relative)
        directory = self._directory(relative, parts[:-1], create=make_dirs)
        try:
            with _failures(relative):
                self._replace(directory, parts[-1], data)
        finally:
            os.close(directory)

    def create_bytes(self, relative: str, data: bytes, *, make_dirs: bool = False) -> None:
        """Create the new file `relative` (0600) holding `data`; never replaces:
        anything already at that name, a symlink included, is refused (EXISTS)
        and left as it was. `make_dirs` creates missing directories on the way.
        Raises WorkspacePathError; a failed write removes the file it created."""
        parts = split_relative(relative)
        directory = self._directory(relative, parts[:-1], create=make_dirs)
        try:
            with _failures(relative, parts[-1]):
                self._create(directory, parts[-1], data)
        finally:
            os.close(directory)

    def append_bytes(self, relative: str, data: bytes, *, make_dirs: bool = False) -> None:
        """Append `data` to the regular file `relative` (created 0600 when
        missing) with one write, then fsync. Raises WorkspacePathError."""
        parts = split_relative(relative)
        directory = self._directory(relative, parts[:-1], create=make_dirs)
        try:
            with _failures(relative, parts[-1]):
                fd, created = self._open_for_append(directory, parts[-1])
            try:
                with _failures(relative):
                    _require_regular(relative, fd)
                    _write_all(fd, data)
                    os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                with _failures(relative):
                    os.fsync(directory)
        finally:
            os.close(directory)

    # ---- the walk ----------------------------------------------------------------------

    def _directory(self, relative: str, parts: tuple[str, ...], *, create: bool) -> int:
        """A new descriptor of the directory `parts` below the root (the caller
        closes it). `create` makes missing ones (the fd walk)."""
        if not parts:
            with _failures(relative):
                return os.dup(self.fd)
        if self.uses_openat2 and not create:
            try:
                # No O_NOFOLLOW: RESOLVE_NO_SYMLINKS then refuses a last symlink with ELOOP.
                return _openat2(self.fd, "/".join(parts), _DIRECTORY_FLAGS & ~os.O_NOFOLLOW)
            except OSError as exc:
                if exc.errno not in _OPENAT2_MISSING:
                    raise _from_os_error(relative, exc, None) from None
                self.uses_openat2 = False
        current = self.fd
        try:
            for part in parts:
                with _failures(relative, part):
                    opened = self._subdirectory(current, part, create=create)
                if current != self.fd:
                    os.close(current)
                current = opened
        except BaseException:
            if current != self.fd:
                os.close(current)
            raise
        return current

    def _subdirectory(self, parent: int, name: str, *, create: bool) -> int:
        try:
            return _open_directory(parent, name)
        except FileNotFoundError:
            if not create:
                raise
        try:
            os.mkdir(name, DIRECTORY_MODE, dir_fd=parent)
        except FileExistsError:  # made concurrently: judged like one found
            return _open_directory(parent, name)
        fd = _open_directory(parent, name)
        try:
            os.fchmod(fd, DIRECTORY_MODE)
            self._adopt(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # ---- the last component ------------------------------------------------------------

    def _replace(self, directory: int, name: str, data: bytes) -> None:
        temp = f".{name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temp, flags, FILE_MODE, dir_fd=directory)
        committed = False
        try:
            try:
                os.fchmod(fd, FILE_MODE)
                self._adopt(fd)
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, name, src_dir_fd=directory, dst_dir_fd=directory)
            committed = True
        finally:
            if not committed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=directory)
        os.fsync(directory)

    def _create(self, directory: int, name: str, data: bytes) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _LEAF_FLAGS
        fd = os.open(name, flags, FILE_MODE, dir_fd=directory)
        written = False
        try:
            try:
                os.fchmod(fd, FILE_MODE)
                self._adopt(fd)
                _write_all(fd, data)
                os.fsync(fd)
                written = True
            finally:
                os.close(fd)
        finally:
            if not written:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=directory)
        os.fsync(directory)

    def _open_for_append(self, directory: int, name: str) -> tuple[int, bool]:
        """The file opened for appending, and whether this call created it."""
        flags = os.O_WRONLY | os.O_APPEND | _LEAF_FLAGS
        try:
            return os.open(name, flags, dir_fd=directory), False
        except FileNotFoundError:
            pass
        try:
            fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, FILE_MODE, dir_fd=directory)
        except FileExistsError:  # created concurrently: append to it
            return os.open(name, flags, dir_fd=directory), False
        try:
            os.fchmod(fd, FILE_MODE)
            self._adopt(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd, True

    def _adopt(self, fd: int) -> None:
        """Give what this call created to the workspace root's owner (as root)."""
        if self.owner is not None:
            os.fchown(fd, *self.owner)


def _require_regular(relative: str, fd: int) -> None:
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        detail = f"is {file_kind(mode)}, not a regular file"
        raise WorkspacePathError(relative, Refusal.NOT_REGULAR, detail)


def _open_directory(parent: int, name: str) -> int:
    """`openat(O_DIRECTORY|O_NOFOLLOW)`; a symlink raises ELOOP (the kernel says
    ENOTDIR for it; an lstat after the failure tells the two apart)."""
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)
    except NotADirectoryError as exc:
        try:
            link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            link = False  # gone meanwhile: reported as not a directory
        if link:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP)) from exc
        raise


def _too_large(relative: str, max_bytes: int) -> WorkspacePathError:
    return WorkspacePathError(relative, Refusal.TOO_LARGE, f"is larger than {max_bytes} bytes")
