"""The inbound journal: what a chat platform delivered, kept until it is answered.

`InboundJournal` owns one channel's journal file (`inbound_journal_path`:
`<bot>/state/inbound/<channel>.jsonl`, directories 0700, file 0600). A channel
appends each message that passed access control *before* acknowledging it to
its platform (Telegram: before the next `getUpdates` offset confirms it;
webhook: before the 200), and marks the entry done once the turn's final reply
has been delivered. After a crash or `kill -9`, `open` returns the entries
without a done mark: the channel replays them. Each line is one JSON object:

- `{"op":"in","id":"17","dedup":[...],"pos":1234,"message":{...}}` an entry:
  the serialised `InboundMessage` (`encode_inbound`), the keys that identify a
  platform redelivery of it (`default_dedup_keys`) and its platform position
  (e.g. the Telegram `update_id`) so the channel can resume after a restart;
- `{"op":"done","id":"17"}` its final reply was delivered;
- `{"op":"seen","id":"17","dedup":[...]}` (compacted files only) an entry
  answered earlier: only its dedup keys are kept;
- `{"op":"head","next":18,"pos":1234}` (first line of a compacted file) the
  next entry number and the highest position, which outlive their entries.

Durability: `append` is one `write` plus one `fdatasync` on a file held open
(`O_APPEND|O_NOFOLLOW`), so an entry whose `append` returned survives a crash
of the process or of the machine: acknowledging it is safe. A failed write is
cut back off the file (`ftruncate`), so no torn record ever sits between two
good ones. `mark_done` writes its line without a sync: it survives the
process (it is in the page cache) and reaches the disk with the next append's
`fdatasync`; only a machine crash in between can lose it, and a lost done mark
means the message is answered again after that crash, never that it is lost.

Deduplication: a message any of whose keys is known (pending, or among the
last `keep_done` answered entries) is a platform duplicate: `append` returns
None and writes nothing. The keys of answered entries survive compaction (as
`seen` lines) until they age out by count, so a restart still drops a
redelivery of something already answered. Memory is bounded by the pending
entries plus `keep_done` answered ones (at most `MAX_DEDUP_KEYS` keys of
`MAX_DEDUP_KEY_LENGTH` characters each).

Compaction: once `compact_after` lines of the file are no longer needed, the
journal is rewritten with `write_private_file` (temp file, fsync, rename,
directory fsync): a crash leaves the old file or the new one, never a mix; a
temp file a crash left behind is removed at the next `open`.

Damage: a torn last line (an append a crash cut short, hence never
acknowledged) is truncated away at `open` (`complete_lines`); any other line
that cannot be decoded is skipped and reported (`OpenedJournal.skipped`), never
fatal: the good entries are kept. A journal path that is a symlink, FIFO,
directory or anything but a regular file is refused (`InboundJournalError`).

The core is synchronous and blocking, safe to call from several threads (one
lock serialises the calls); trio code uses `AsyncInboundJournal`, which runs
it through a `BlockingRunner` (the project's `ThreadBatcher`). One process
owns a journal: two processes appending to the same file would corrupt it.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from autobot.channels.base import Attachment, AttachmentKind, InboundKind, InboundMessage
from autobot.runtime.batching import BlockingRunner
from autobot.security.regular_file import FileRefused, open_regular, read_fd
from autobot.store.atomic import (
    PRIVATE_FILE_MODE,
    complete_lines,
    ensure_private_dir,
    write_private_file,
)

# 10,000 answered entries cover far more than a platform's redelivery window
# (Telegram keeps unconfirmed updates for 24 h; a personal bot answers a few
# hundred messages a day) at a few hundred bytes of memory each.
KEEP_DONE = 10_000
# A rewrite costs about (pending + keep_done) short lines; doing it after
# 2,000 dead lines keeps that under ~6 lines written per answered message and
# the file under ~32,000 lines (a few MB, read once at start).
COMPACT_AFTER = 2_000
MAX_DEDUP_KEYS = 8
MAX_DEDUP_KEY_LENGTH = 256

_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ENTRY_ID = re.compile(r"[1-9][0-9]{0,17}")
_MAX_NEXT_NUMBER = 10**18  # entry ids stay within `_ENTRY_ID`


class InboundJournalError(ValueError):
    """The journal cannot be used: its path is not a regular file, or it is closed."""


def inbound_journal_path(bot_dir: Path, channel: str) -> Path:
    """`<bot_dir>/state/inbound/<channel>.jsonl`. Raises ValueError unless
    `channel` is a plain lowercase name (`[a-z][a-z0-9_]*`, at most 32)."""
    if not _CHANNEL_NAME.fullmatch(channel):
        raise ValueError(f"channel name {channel!r} is not a plain lowercase name")
    return bot_dir / "state" / "inbound" / f"{channel}.jsonl"


def default_dedup_keys(message: InboundMessage, position: int | None) -> tuple[str, ...]:
    """The keys that identify a redelivery of `message`, each when known: its
    platform position (`pos:<update id>`) and its chat plus platform message
    id (`msg:<hash>`: a digest of the pair, so ids of any length or alphabet,
    colons included, give distinct keys of bounded size)."""
    keys = [] if position is None else [f"pos:{position}"]
    if message.message_id is not None:
        pair = json.dumps([message.chat_id, message.message_id]).encode("ascii")
        keys.append(f"msg:{hashlib.sha256(pair).hexdigest()[:32]}")
    return tuple(keys)


# --- InboundMessage <-> JSON -------------------------------------------------

_MESSAGE_KEYS = frozenset(
    {"channel", "chat_id", "content", "sender_id", "sender_name", "kind", "message_id"}
    | {"thread_id", "reply_to_id", "is_group", "addressed", "attachments"}
)
_ATTACHMENT_KEYS = frozenset({"kind", "path", "mime_type", "size"})
_TRANSCRIBED_KEYS = _ATTACHMENT_KEYS | {"transcript"}  # a transcribed voice note


def encode_inbound(message: InboundMessage) -> dict[str, Any]:
    """A JSON-ready dict of `message`, every field but `journal_id` (the
    journal entry's id is that) and `scheduled` (a cron run's completion
    channel, never journaled: `_check_arrival` refuses it). Inverse of
    `decode_inbound`."""
    return {
        "channel": message.channel,
        "chat_id": message.chat_id,
        "content": message.content,
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "kind": message.kind.value,
        "message_id": message.message_id,
        "thread_id": message.thread_id,
        "reply_to_id": message.reply_to_id,
        "is_group": message.is_group,
        "addressed": message.addressed,
        "attachments": [_encode_attachment(a) for a in message.attachments],
    }


def _encode_attachment(attachment: Attachment) -> dict[str, Any]:
    """An attachment's fields; `transcript` only when there is one (so entries
    written before transcripts existed read the same)."""
    encoded: dict[str, Any] = {
        "kind": attachment.kind.value,
        "path": attachment.path,
        "mime_type": attachment.mime_type,
        "size": attachment.size,
    }
    if attachment.transcript is not None:
        encoded["transcript"] = attachment.transcript
    return encoded


def _exact_keys(data: Any, keys: frozenset[str], what: str) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not an object")
    if data.keys() != keys:
        odd = sorted(set(data) ^ keys)
        raise ValueError(f"{what} has missing or unknown fields {odd}")
    return data


def _typed(data: Mapping[str, Any], key: str, kind: type) -> Any:
    """`data[key]`, which must be exactly a `kind` (a bool is no int)."""
    value = data[key]
    if type(value) is not kind:
        raise ValueError(f"{key} is not of type {kind.__name__}")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    return None if data[key] is None else _typed(data, key, str)


def _attachment(data: Any) -> Attachment:
    transcribed = isinstance(data, dict) and "transcript" in data
    keys = _TRANSCRIBED_KEYS if transcribed else _ATTACHMENT_KEYS
    fields = _exact_keys(data, keys, "attachment")
    size = _typed(fields, "size", int)
    if size < 0:
        raise ValueError("attachment size is negative")
    return Attachment(
        kind=AttachmentKind(_typed(fields, "kind", str)),
        path=_typed(fields, "path", str),
        mime_type=_typed(fields, "mime_type", str),
        size=size,
        transcript=_typed(fields, "transcript", str) if transcribed else None,
    )


def decode_inbound(data: Any, journal_id: str | None) -> InboundMessage:
    """The `InboundMessage` encoded in `data`, carrying `journal_id`. Strict:
    raises ValueError (naming the field, never its value) on a missing or
    unknown field, or a value of the wrong type."""
    fields = _exact_keys(data, _MESSAGE_KEYS, "message")
    attachments = _typed(fields, "attachments", list)
    return InboundMessage(
        channel=_typed(fields, "channel", str),
        chat_id=_typed(fields, "chat_id", str),
        content=_typed(fields, "content", str),
        sender_id=_typed(fields, "sender_id", str),
        sender_name=_typed(fields, "sender_name", str),
        kind=InboundKind(_typed(fields, "kind", str)),
        message_id=_optional_str(fields, "message_id"),
        thread_id=_optional_str(fields, "thread_id"),
        reply_to_id=_optional_str(fields, "reply_to_id"),
        is_group=_typed(fields, "is_group", bool),
        addressed=_typed(fields, "addressed", bool),
        attachments=tuple(_attachment(item) for item in attachments),
        journal_id=journal_id,
    )


def _dumps(record: Mapping[str, Any]) -> str:
    # ASCII escapes: any str round-trips, lone surrogates included.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


# --- values ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Arrival:
    """A message to journal: `dedup_keys` identify a platform redelivery of it
    (1 to `MAX_DEDUP_KEYS` distinct non-empty strings); `position` is its place
    in the platform's stream (e.g. the Telegram update_id), if it has one."""

    message: InboundMessage
    dedup_keys: tuple[str, ...]
    position: int | None = None


@attrs.frozen(kw_only=True)
class JournalEntry:
    """A journaled message: `message.journal_id == id`."""

    id: str
    message: InboundMessage
    dedup_keys: tuple[str, ...]
    position: int | None = None


@attrs.frozen
class SkippedLine:
    """A line `open` could not use: its 1-based number and why (never its content)."""

    line: int
    reason: str


@attrs.frozen(kw_only=True)
class OpenedJournal:
    """What `InboundJournal.open` found: the `journal`, the entries still
    waiting for their reply (`pending`, in arrival order), the lines skipped
    as undecodable, and how many bytes of a torn last line were cut."""

    journal: InboundJournal
    pending: tuple[JournalEntry, ...]
    skipped: tuple[SkippedLine, ...] = ()
    torn_bytes: int = 0


def _check_keys(keys: Any) -> tuple[str, ...]:
    """`keys` if they are 1 to `MAX_DEDUP_KEYS` distinct strings of 1 to
    `MAX_DEDUP_KEY_LENGTH` characters; raises ValueError otherwise."""
    if not isinstance(keys, tuple) or not 1 <= len(keys) <= MAX_DEDUP_KEYS:
        raise ValueError(f"dedup_keys must be a tuple of 1 to {MAX_DEDUP_KEYS} keys")
    for key in keys:
        if not isinstance(key, str) or not 0 < len(key) <= MAX_DEDUP_KEY_LENGTH:
            raise ValueError(f"a dedup key must be a str of 1 to {MAX_DEDUP_KEY_LENGTH} chars")
    if len(set(keys)) != len(keys):
        raise ValueError("dedup_keys repeat a key")
    return keys


def _check_position(position: Any) -> int | None:
    if position is not None and (type(position) is not int or position < 0):
        raise ValueError("position must be a non-negative int or None")
    return position


def _check_arrival(arrival: Arrival) -> None:
    """Raises ValueError on an arrival that cannot be journaled, or whose
    message would not decode again (so a written entry is never skipped)."""
    _check_keys(arrival.dedup_keys)
    _check_position(arrival.position)
    message = arrival.message
    if message.journal_id is not None:
        raise ValueError(f"message is already journaled as {message.journal_id!r}")
    if message.scheduled is not None:
        raise ValueError("a scheduled run is not a chat message: it is never journaled")
    try:
        decode_inbound(encode_inbound(message), None)
    except (AttributeError, TypeError) as error:  # e.g. a kind that is no enum member
        raise ValueError(f"message cannot be journaled: {error}") from error


def _entry_line(entry: JournalEntry) -> str:
    return _dumps(
        {
            "op": "in",
            "id": entry.id,
            "dedup": list(entry.dedup_keys),
            "pos": entry.position,
            "message": encode_inbound(entry.message),
        }
    )


# --- the in-memory state, built by replaying lines ----------------------------


@attrs.define(eq=False)
class _Index:
    """Pending entries, the dedup keys of the last `keep_done` answered ones,
    the next entry number and the highest position. Built from the file by
    `replay`, then kept up to date by the journal after each write."""

    keep_done: int
    pending: dict[str, JournalEntry] = attrs.field(factory=dict)
    done: collections.OrderedDict[str, tuple[str, ...]] = attrs.field(
        factory=collections.OrderedDict
    )
    keys: set[str] = attrs.field(factory=set)  # of the pending and the `done` entries
    next_number: int = 1
    highest_position: int | None = None

    def knows(self, keys: Iterable[str]) -> bool:
        return not self.keys.isdisjoint(keys)

    def add(self, entry: JournalEntry) -> None:
        self.pending[entry.id] = entry
        self.keys.update(entry.dedup_keys)
        self.next_number = max(self.next_number, int(entry.id) + 1)
        self.note_position(entry.position)

    def note_position(self, position: int | None) -> None:
        highest = self.highest_position
        if position is not None and (highest is None or position > highest):
            self.highest_position = position

    def remember_done(self, entry_id: str, keys: tuple[str, ...]) -> None:
        self.done[entry_id] = keys
        self.keys.update(keys)
        self.next_number = max(self.next_number, int(entry_id) + 1)
        while len(self.done) > self.keep_done:
            _, old_keys = self.done.popitem(last=False)
            self.keys.difference_update(old_keys)

    def complete(self, entry_id: str) -> None:
        self.remember_done(entry_id, self.pending.pop(entry_id).dedup_keys)

    def live_lines(self) -> int:
        """Lines a compacted file holds: head, seen tail, pending entries."""
        return 1 + len(self.done) + len(self.pending)

    def compacted(self) -> list[str]:
        head = {"op": "head", "next": self.next_number, "pos": self.highest_position}
        seen = (
            _dumps({"op": "seen", "id": entry_id, "dedup": list(keys)})
            for entry_id, keys in self.done.items()
        )
        return [_dumps(head), *seen, *(_entry_line(e) for e in self.pending.values())]

    def replay(self, line: Any) -> None:
        """Apply one decoded line; raises ValueError/KeyError/TypeError (the
        index unchanged) on a line that is malformed or contradicts the ones
        before it."""
        op = line["op"] if isinstance(line, dict) else None
        if op not in _LINE_KEYS:
            raise ValueError(f"unknown op {op!r}" if op else "line is not an object with an op")
        record = _exact_keys(line, _LINE_KEYS[op], f"{op} line")
        if op == "head":
            number = _typed(record, "next", int)
            if not 1 <= number <= _MAX_NEXT_NUMBER:
                raise ValueError("head names an entry number out of range")
            self.next_number = max(self.next_number, number)
            self.note_position(_check_position(record["pos"]))
            return
        entry_id = _typed(record, "id", str)
        if not _ENTRY_ID.fullmatch(entry_id):
            raise ValueError("malformed entry id")
        if op == "done":
            if entry_id not in self.pending:
                raise ValueError(f"done mark for entry {entry_id}, which is not pending")
            self.complete(entry_id)
            return
        keys = _check_keys(tuple(_typed(record, "dedup", list)))
        if entry_id in self.pending or entry_id in self.done:
            raise ValueError(f"entry id {entry_id} is used twice")
        if self.knows(keys):
            raise ValueError(f"entry {entry_id} repeats a known dedup key")
        if op == "seen":
            self.remember_done(entry_id, keys)
            return
        position = _check_position(record["pos"])
        message = decode_inbound(record["message"], entry_id)
        self.add(JournalEntry(id=entry_id, message=message, dedup_keys=keys, position=position))


_LINE_KEYS = {
    "head": frozenset({"op", "next", "pos"}),
    "in": frozenset({"op", "id", "dedup", "pos", "message"}),
    "done": frozenset({"op", "id"}),
    "seen": frozenset({"op", "id", "dedup"}),
}


# --- the file ------------------------------------------------------------------


def _open_journal_file(path: Path, *, create: bool) -> int:
    """An fd (read, append) on the regular file `path`, never through a
    symlink, tightened to 0600; when missing and `create`, created 0600 with
    its directory entry fsync-ed. Raises InboundJournalError naming `path`
    when it is not a regular file, FileNotFoundError when missing otherwise."""
    flags = os.O_RDWR | os.O_APPEND
    try:
        fd = open_regular(path, flags=flags, follow_symlinks=False)
    except FileRefused as refused:
        raise InboundJournalError(f"inbound journal {path} {refused}; refused") from None
    except IsADirectoryError:
        raise InboundJournalError(f"inbound journal {path} is a directory; refused") from None
    except FileNotFoundError:
        if not create:
            raise
        created = flags | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, created, PRIVATE_FILE_MODE)
        os.fchmod(fd, PRIVATE_FILE_MODE)
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return fd
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & ~PRIVATE_FILE_MODE:
        os.fchmod(fd, mode & PRIVATE_FILE_MODE)
    return fd


def _remove_stale_temps(path: Path) -> None:
    """Remove the temp files of compactions a crash interrupted
    (`write_private_file` names them `.<name>.<random>.tmp`)."""
    prefix = f".{path.name}."
    with os.scandir(path.parent) as entries:
        stale = [
            e.path
            for e in entries
            if e.name.startswith(prefix)
            and e.name.endswith(".tmp")
            and not e.is_dir(follow_symlinks=False)
        ]
    for name in stale:
        os.unlink(name)


@attrs.define(eq=False)
class InboundJournal:
    """One channel's journal file, held open; built by `open` only.

    Every method may raise OSError on I/O failure (the journal and its file
    are then as before the call) and InboundJournalError once `close`d.
    """

    path: Path
    compact_after: int
    _index: _Index = attrs.field(repr=False)  # holds message texts: never in a log line
    _fd: int | None
    _size: int  # bytes in the file: where a failed write is cut back to
    _lines: int  # complete lines in the file, needed or not
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    @classmethod
    def open(
        cls, path: Path, *, keep_done: int = KEEP_DONE, compact_after: int = COMPACT_AFTER
    ) -> OpenedJournal:
        """Open (creating it and its directories, 0600/0700) the journal at
        `path`, cut a torn last line, and load it. Raises ValueError on a
        negative `keep_done` or a `compact_after` below 1,
        InboundJournalError when `path` is not a regular file."""
        if keep_done < 0 or compact_after < 1:
            raise ValueError("keep_done must be >= 0 and compact_after >= 1")
        ensure_private_dir(path.parent)
        _remove_stale_temps(path)
        fd = _open_journal_file(path, create=True)
        try:
            data = read_fd(fd, limit=None)
            kept = complete_lines(data)
            if len(kept) != len(data):
                os.ftruncate(fd, len(kept))
        except BaseException:
            os.close(fd)
            raise
        index = _Index(keep_done=keep_done)
        skipped = []
        lines = kept.split(b"\n")[:-1]
        for number, raw in enumerate(lines, start=1):
            try:
                index.replay(json.loads(raw))
            except (ValueError, KeyError, TypeError, RecursionError) as error:
                reason = f"missing field {error}" if isinstance(error, KeyError) else str(error)
                skipped.append(SkippedLine(line=number, reason=reason))
        journal = cls(
            path=path,
            compact_after=compact_after,
            index=index,
            fd=fd,
            size=len(kept),
            lines=len(lines),
        )
        return OpenedJournal(
            journal=journal,
            pending=tuple(index.pending.values()),
            skipped=tuple(skipped),
            torn_bytes=len(data) - len(kept),
        )

    @property
    def backlog(self) -> int:
        """Entries waiting for their final reply (read without the lock: a
        snapshot, as for `highest_position`)."""
        return len(self._index.pending)

    @property
    def highest_position(self) -> int | None:
        """The highest platform position ever journaled (None: none had one)."""
        return self._index.highest_position

    def holds(self, dedup_keys: Iterable[str]) -> bool:
        """Whether an entry with one of `dedup_keys` is pending or among the
        answered ones remembered: `append` would find it a duplicate."""
        with self._lock:
            return self._index.knows(dedup_keys)

    def append(
        self, message: InboundMessage, dedup_keys: tuple[str, ...], position: int | None = None
    ) -> JournalEntry | None:
        """Journal one message, durably; None if it is a duplicate (nothing
        written). See `append_many`."""
        arrival = Arrival(message=message, dedup_keys=dedup_keys, position=position)
        return self.append_many([arrival])[0]

    def append_many(self, arrivals: Sequence[Arrival]) -> list[JournalEntry | None]:
        """Journal `arrivals` with one write and one `fdatasync`: when this
        returns they survive any crash and may be acknowledged. Returns, in
        order, each one's entry (its message carries the entry id as
        `journal_id`), or None for a duplicate: a key already known or used
        by an earlier arrival of the batch. Raises ValueError (nothing
        written) on an invalid arrival (`Arrival`; a message that already has
        a `journal_id`)."""
        for arrival in arrivals:
            _check_arrival(arrival)
        with self._lock:
            index = self._index
            batch: list[JournalEntry | None] = []
            claimed: set[str] = set()
            number = index.next_number
            for arrival in arrivals:
                keys = arrival.dedup_keys
                if index.knows(keys) or not claimed.isdisjoint(keys):
                    batch.append(None)
                    continue
                claimed.update(keys)
                entry_id = str(number)
                number += 1
                message = attrs.evolve(arrival.message, journal_id=entry_id)
                batch.append(
                    JournalEntry(
                        id=entry_id, message=message, dedup_keys=keys, position=arrival.position
                    )
                )
            entries = [entry for entry in batch if entry is not None]
            self._write([_entry_line(entry) for entry in entries], sync=True)
            for entry in entries:
                index.add(entry)
            return batch

    def mark_done(self, *entry_ids: str) -> int:
        """Record that the final replies of `entry_ids` were delivered (one
        write, no sync: see the module docstring), compacting the file when
        enough of it is dead. Returns how many were pending; an id issued
        earlier but no longer pending is already done and skipped. Raises
        ValueError (nothing written) for an id this journal never issued.
        An OSError of the compaction is raised after the marks are recorded
        (its note says so)."""
        with self._lock:
            index = self._index
            for entry_id in entry_ids:
                issued = isinstance(entry_id, str) and _ENTRY_ID.fullmatch(entry_id)
                if not issued or int(entry_id) >= index.next_number:
                    raise ValueError(f"{entry_id!r} is not an entry id of {self.path}")
            marks = [i for i in dict.fromkeys(entry_ids) if i in index.pending]
            self._write([_dumps({"op": "done", "id": i}) for i in marks], sync=False)
            for entry_id in marks:
                index.complete(entry_id)
            if self._lines - index.live_lines() >= self.compact_after:
                try:
                    self._compact()
                except OSError as error:
                    error.add_note(f"done marks recorded; compacting {self.path} failed")
                    raise
            return len(marks)

    def compact(self) -> None:
        """Rewrite the file atomically with only what is still needed: the
        head, the dedup keys of the last `keep_done` answered entries, the
        pending entries. A failure leaves the old file (and journal) intact."""
        with self._lock:
            self._compact()

    def close(self) -> None:
        """Close the file; later calls raise InboundJournalError. Idempotent."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> InboundJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _live_fd(self) -> int:
        if self._fd is None:
            raise InboundJournalError(f"inbound journal {self.path} is closed")
        return self._fd

    def _write(self, lines: list[str], *, sync: bool) -> None:
        """Append `lines` with one write (then `fdatasync` if `sync`). On any
        failure the file is cut back to its previous end; if even that fails
        the journal closes itself (a torn record must never get a successor)."""
        fd = self._live_fd()
        if not lines:
            return
        payload = "".join(f"{line}\n" for line in lines).encode("ascii")
        try:
            written = os.write(fd, payload)
            if written != len(payload):
                raise OSError(errno.ENOSPC, f"short write to {self.path}")
            if sync:
                os.fdatasync(fd)
        except OSError:
            try:
                os.ftruncate(fd, self._size)
            except OSError as undo:
                os.close(fd)
                self._fd = None
                undo.add_note(f"inbound journal {self.path} closed: a failed write stays in it")
                raise
            raise
        self._size += len(payload)
        self._lines += len(lines)

    def _compact(self) -> None:
        fd = self._live_fd()
        lines = self._index.compacted()
        payload = "".join(f"{line}\n" for line in lines).encode("ascii")
        write_private_file(self.path, payload)
        os.close(fd)
        self._fd = None  # if the reopen fails the journal stays closed
        self._fd = _open_journal_file(self.path, create=False)
        self._size, self._lines = len(payload), len(lines)


@attrs.frozen
class AsyncInboundJournal:
    """`journal`'s blocking calls, run off the event loop by `runner` (a
    `ThreadBatcher` in production). Same arguments, results and errors."""

    journal: InboundJournal
    runner: BlockingRunner

    @property
    def backlog(self) -> int:
        return self.journal.backlog

    @property
    def highest_position(self) -> int | None:
        return self.journal.highest_position

    async def holds(self, dedup_keys: Iterable[str]) -> bool:
        result: bool = await self.runner(self.journal.holds, tuple(dedup_keys))
        return result

    async def append(
        self, message: InboundMessage, dedup_keys: tuple[str, ...], position: int | None = None
    ) -> JournalEntry | None:
        result: JournalEntry | None = await self.runner(
            self.journal.append, message, dedup_keys, position
        )
        return result

    async def append_many(self, arrivals: Sequence[Arrival]) -> list[JournalEntry | None]:
        result: list[JournalEntry | None] = await self.runner(self.journal.append_many, arrivals)
        return result

    async def mark_done(self, *entry_ids: str) -> int:
        result: int = await self.runner(self.journal.mark_done, *entry_ids)
        return result

    async def close(self) -> None:
        await self.runner(self.journal.close)
