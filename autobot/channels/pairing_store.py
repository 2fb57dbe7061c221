"""The pairing store: `pairing.json` in the bot directory (sync).

The file is the single source of truth shared by the gateway (which issues
codes) and `autobot pairing` (which approves and revokes), possibly running
at the same time:

- every change is a transaction under an exclusive `flock` on a separate lock
  file (`.pairing.lock`, 0600, never replaced): read the file fresh, apply a
  pure transition from `pairing`, write the successor atomically (0600 temp
  file, fsync, rename: `store.atomic.write_private_file`). Two writers never
  lose each other's change; `flock` locks belong to the open file, so two
  stores in one process exclude each other as two processes do;
- reading needs no lock (a rename is atomic: readers see the old or the new
  book). `PairingStore.current` costs one `lstat` while the file is
  unchanged and reloads when its identity (device, inode) or its size,
  mtime or ctime changes. The store keeps the loaded file open, so its inode
  cannot be reused by a later version: a replacement (every write autobot
  makes) is always seen. An edit in place by hand is seen through its size
  or timestamps (one of the same size within the same timestamp tick would
  wait for the next change);
- a store file that is not a regular file, is larger than `MAX_STORE_BYTES`
  or is not a valid book raises `PairingStoreError` and is never written
  over: access decisions must then fail closed (no approvals).

All methods block (file I/O, `flock`): Trio code calls them through
`trio.to_thread.run_sync` with a named `CapacityLimiter`. A store has one
owner (not thread-safe); close it with `close()` or use it as a context
manager.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

import attrs

from autobot.channels.pairing import (
    Approval,
    PairingBook,
    PairingError,
    PendingCode,
    check_channel,
    check_sender_id,
    check_username,
    normalize_code,
)
from autobot.store.atomic import PRIVATE_FILE_MODE, write_private_file

PAIRING_FILE_NAME = "pairing.json"
LOCK_FILE_NAME = ".pairing.lock"
MAX_STORE_BYTES = 1 << 20  # ~10,000 approvals; a larger file is refused, never half-read
STORE_VERSION = 1
_LATEST_TIME = 1e11  # seconds since the epoch (year 5138): later is corruption


class PairingStoreError(Exception):
    """The store cannot be used: unreadable, not a regular file, too large, or
    not a valid pairing book. The message names the file and the problem;
    the file was left untouched."""


class Transition(Protocol):
    """What a transaction's change returns: `book` is the successor to write,
    or None when nothing changed."""

    @property
    def book(self) -> PairingBook | None: ...


T = TypeVar("T", bound=Transition)

_Identity = tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns


def _identity(info: os.stat_result) -> _Identity:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@attrs.define
class _Loaded:
    fd: int  # the loaded file, held open so its inode is not reused
    identity: _Identity
    book: PairingBook


@attrs.define
class PairingStore:
    """The pairing book of the bot in `bot_dir` (see module docstring)."""

    bot_dir: Path
    _loaded: _Loaded | None = attrs.field(default=None, init=False)

    @property
    def path(self) -> Path:
        return self.bot_dir / PAIRING_FILE_NAME

    @property
    def lock_path(self) -> Path:
        return self.bot_dir / LOCK_FILE_NAME

    def current(self) -> PairingBook:
        """The book as the file holds it now; an empty book when there is no
        file. Raises `PairingStoreError` (see module docstring)."""
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            self._forget()
            return PairingBook()
        except OSError as error:
            raise self._error(_reason(error)) from error
        loaded = self._loaded
        if loaded is not None and _identity(info) == loaded.identity:
            return loaded.book
        return self._load()

    def transact(self, change: Callable[[PairingBook], T]) -> T:
        """Apply `change` to the book under the store lock and write its
        successor (if any and different); returns what `change` returned.

        `change` must be pure: it is first tried on `current()` without the
        lock, so a change that raises (e.g. `PairingError` for a bad code)
        propagates before the lock file is even created, then applied again
        under the lock to the book read fresh. An exception from either run
        propagates and nothing is written. Raises `PairingStoreError` when
        the store is unusable (nothing is written either), `PairingError`
        when the successor would exceed `MAX_STORE_BYTES`, and `OSError`
        when the write fails (the old file is intact).
        """
        change(self.current())
        with self._locked():
            book = self.current()
            result = change(book)
            successor = result.book
            if successor is not None and successor != book:
                payload = encode_book(successor)
                if len(payload) > MAX_STORE_BYTES:
                    raise PairingError(
                        f"{self.path} would exceed {MAX_STORE_BYTES} bytes; revoke unused approvals first"
                    )
                write_private_file(self.path, payload)
            return result

    def close(self) -> None:
        """Release the loaded file (the store stays usable: it reloads)."""
        self._forget()

    def __enter__(self) -> PairingStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _forget(self) -> None:
        if self._loaded is not None:
            os.close(self._loaded.fd)
            self._loaded = None

    def _load(self) -> PairingBook:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            self._forget()
            return PairingBook()
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise self._error("it is a symlink") from error
            raise self._error(_reason(error)) from error
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self._error("it is not a regular file")
            if info.st_size > MAX_STORE_BYTES:
                raise self._error(f"it is larger than {MAX_STORE_BYTES} bytes")
            data = _read_all(fd, MAX_STORE_BYTES + 1)
            if len(data) > MAX_STORE_BYTES:
                raise self._error(f"it is larger than {MAX_STORE_BYTES} bytes")
            try:
                book = decode_book(data)
            except ValueError as error:
                raise self._error(str(error)) from error
        except BaseException:
            os.close(fd)
            raise
        self._forget()
        self._loaded = _Loaded(fd=fd, identity=_identity(info), book=book)
        return book

    def _error(self, problem: str) -> PairingStoreError:
        return PairingStoreError(
            f"pairing store {self.path} is unusable: {problem}."
            " It was left untouched; fix or remove it (until then no pairing approvals apply)"
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.lock_path, flags, PRIVATE_FILE_MODE)
        except OSError as error:
            raise PairingStoreError(
                f"cannot open the pairing lock {self.lock_path}: {_reason(error)}"
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
            yield
        finally:
            os.close(fd)


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _read_all(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def encode_book(book: PairingBook) -> bytes:
    """The file form of `book`: UTF-8 JSON, version `STORE_VERSION`."""
    document = {
        "version": STORE_VERSION,
        "pending": [
            {
                "channel": p.channel,
                "sender_id": p.sender_id,
                "code": p.code,
                "created_at": p.created_at,
                "username": p.username,
            }
            for p in book.pending
        ],
        "approved": [
            {
                "channel": a.channel,
                "sender_id": a.sender_id,
                "approved_at": a.approved_at,
                "username": a.username,
            }
            for a in book.approved
        ],
    }
    return (json.dumps(document, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def decode_book(data: bytes) -> PairingBook:
    """The book in `data` (see `encode_book`). Raises `ValueError` naming the
    first problem: not UTF-8 JSON, duplicate or unknown keys, wrong types,
    another version, malformed codes or ids, a sender approved twice."""
    try:
        document = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
        )
    except UnicodeDecodeError as error:
        raise ValueError("it is not UTF-8") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"it is not JSON ({error.msg} at line {error.lineno})") from error
    fields = _fields(document, "the top level", {"version", "pending", "approved"})
    if fields["version"] != STORE_VERSION or isinstance(fields["version"], bool):
        raise ValueError(f"version is {fields['version']!r}, expected {STORE_VERSION}")
    pending = tuple(
        _pending(item, f"pending[{i}]") for i, item in enumerate(_list(fields, "pending"))
    )
    approved = tuple(
        _approval(item, f"approved[{i}]") for i, item in enumerate(_list(fields, "approved"))
    )
    seen: set[tuple[str, str]] = set()
    for approval in approved:
        key = (approval.channel, approval.sender_id)
        if key in seen:
            raise ValueError(f"{approval.sender_id!r} is approved twice on {approval.channel}")
        seen.add(key)
    return PairingBook(pending=pending, approved=approved)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a valid number")


def _fields(value: object, where: str, names: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is not an object")
    if set(value) != names:
        unknown = sorted(set(value) - names)
        missing = sorted(names - set(value))
        detail = f"unknown keys {unknown}" if unknown else f"missing keys {missing}"
        raise ValueError(f"{where} has {detail}")
    return value


def _list(fields: dict[str, Any], name: str) -> list[Any]:
    value = fields[name]
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    return value


def _text(fields: dict[str, Any], name: str, where: str) -> str:
    value = fields[name]
    if not isinstance(value, str):
        raise ValueError(f"{where}.{name} is not a string")
    return value


def _time(fields: dict[str, Any], name: str, where: str) -> float:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{name} is not a time")
    if not (math.isfinite(value) and 0 <= value <= _LATEST_TIME):
        raise ValueError(f"{where}.{name} is not a time")
    return float(value)


def _checked_ids(fields: dict[str, Any], where: str) -> tuple[str, str, str | None]:
    channel = _text(fields, "channel", where)
    sender_id = _text(fields, "sender_id", where)
    username = fields["username"]
    if username is not None and not isinstance(username, str):
        raise ValueError(f"{where}.username is not a string")
    try:
        check_channel(channel)
        check_sender_id(sender_id)
        check_username(username)
    except PairingError as error:
        raise ValueError(f"{where}: {error}") from error
    return channel, sender_id, username


def _pending(item: object, where: str) -> PendingCode:
    fields = _fields(item, where, {"channel", "sender_id", "code", "created_at", "username"})
    channel, sender_id, username = _checked_ids(fields, where)
    code = _text(fields, "code", where)
    try:
        if normalize_code(code) != code:
            raise PairingError("not upper case")
    except PairingError as error:
        raise ValueError(f"{where}.code is not a pairing code: {error}") from error
    return PendingCode(
        channel=channel,
        sender_id=sender_id,
        code=code,
        created_at=_time(fields, "created_at", where),
        username=username,
    )


def _approval(item: object, where: str) -> Approval:
    fields = _fields(item, where, {"channel", "sender_id", "approved_at", "username"})
    channel, sender_id, username = _checked_ids(fields, where)
    return Approval(
        channel=channel,
        sender_id=sender_id,
        approved_at=_time(fields, "approved_at", where),
        username=username,
    )
