"""The pairing store: `pairing.json` in the bot directory (sync).

The file is the single source of truth shared by the gateway (which issues
codes) and `autobot pairing` (which approves and revokes), possibly running
at the same time, so it is a `store.shared_file.SharedFile` (as the cron
store is): a change is a transaction under the lock `.pairing.lock`, which
applies a pure transition from `pairing` to the book and writes the
successor atomically; reading needs no lock, and `PairingStore.current`
costs one `lstat` while the file is unchanged. A store file that is not a
regular file, is larger than `MAX_STORE_BYTES` or is not a valid book
raises `PairingStoreError` and is never written over: access decisions must
then fail closed (no approvals).

All methods block (file I/O, `flock`): Trio code calls them through
`trio.to_thread.run_sync` with a named `CapacityLimiter`. A store has one
owner (not thread-safe); close it with `close()` or use it as a context
manager.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
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
from autobot.security.regular_file import FileRefused, FileTooLarge, SymlinkRefused
from autobot.store.atomic import write_private_file
from autobot.store.shared_file import SharedFile
from autobot.store.strict_json import decode_document, encode_document, exact_fields, list_field

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


@attrs.define
class PairingStore:
    """The pairing book of the bot in `bot_dir` (see module docstring)."""

    bot_dir: Path
    _file: SharedFile[PairingBook] = attrs.field(init=False)

    @_file.default
    def _shared_file(self) -> SharedFile[PairingBook]:
        return SharedFile(
            path=self.bot_dir / PAIRING_FILE_NAME,
            lock_path=self.bot_dir / LOCK_FILE_NAME,
            limit=MAX_STORE_BYTES,
            decode=decode_book,
            empty=PairingBook(),
            name="pairing",
            until_fixed="no pairing approvals apply",
            error=PairingStoreError,
            refusal=_refusal,
        )

    @property
    def path(self) -> Path:
        return self._file.path

    @property
    def lock_path(self) -> Path:
        return self._file.lock_path

    def current(self) -> PairingBook:
        """The book as the file holds it now; an empty book when there is no
        file. Raises `PairingStoreError` (see module docstring)."""
        return self._file.load()

    def transact(self, change: Callable[[PairingBook], T]) -> T:
        """Apply `change` to the book under the store lock and write its
        successor (if any and different); returns what `change` returned.

        `change` must be pure: it is first tried on `current()` without the
        lock, so a change that raises (e.g. `PairingError` for a bad code)
        propagates before the lock file is even created, then applied again
        under the lock to the book as the file holds it then. An exception
        from either run propagates and nothing is written. Raises
        `PairingStoreError` when the store or its lock is unusable (nothing
        is written either), `PairingError` when the successor would exceed
        `MAX_STORE_BYTES`, and `OSError` when the write fails (the old file
        is intact).
        """
        change(self.current())
        with self._file.locked():
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
        self._file.close()

    def __enter__(self) -> PairingStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _refusal(refused: FileRefused) -> str:
    """A file the store does not read, in the words this store has always used."""
    if isinstance(refused, SymlinkRefused):
        return "it is a symlink"
    if isinstance(refused, FileTooLarge):
        return f"it is larger than {MAX_STORE_BYTES} bytes"
    return "it is not a regular file"


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
    return encode_document(document, ascii_only=True)


def decode_book(data: bytes) -> PairingBook:
    """The book in `data` (see `encode_book`). Raises `ValueError` naming the
    first problem: not UTF-8 JSON, duplicate or unknown keys, wrong types,
    another version, malformed codes or ids, a sender approved twice."""
    document = decode_document(data, kind="a pairing store")
    fields = exact_fields(document, "the top level", {"version", "pending", "approved"})
    if fields["version"] != STORE_VERSION or isinstance(fields["version"], bool):
        raise ValueError(f"version is {fields['version']!r}, expected {STORE_VERSION}")
    pending = tuple(
        _pending(item, f"pending[{i}]") for i, item in enumerate(list_field(fields, "pending"))
    )
    approved = tuple(
        _approval(item, f"approved[{i}]") for i, item in enumerate(list_field(fields, "approved"))
    )
    seen: set[tuple[str, str]] = set()
    for approval in approved:
        key = (approval.channel, approval.sender_id)
        if key in seen:
            raise ValueError(f"{approval.sender_id!r} is approved twice on {approval.channel}")
        seen.add(key)
    return PairingBook(pending=pending, approved=approved)


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
    fields = exact_fields(item, where, {"channel", "sender_id", "code", "created_at", "username"})
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
    fields = exact_fields(item, where, {"channel", "sender_id", "approved_at", "username"})
    channel, sender_id, username = _checked_ids(fields, where)
    return Approval(
        channel=channel,
        sender_id=sender_id,
        approved_at=_time(fields, "approved_at", where),
        username=username,
    )
