"""The session journal: one private JSONL file per conversation.

`SessionStore` owns the `sessions/` directory (0700; files 0600). Each line
is one JSON object; each `append` writes its entries with one write, and
(unless asked not to) one fsync (`append_private_lines`):

- `{"t": "msg", "role": ..., "content": ..., ...}` one `ChatMessage`;
- `{"t": "usage", "day": "YYYY-MM-DD", "tokens": n}` tokens spent by one LLM call
  (so the per-session daily budget survives idle eviction and restarts);
- `{"t": "consolidated", "upto": n}` the first n messages were folded into
  the workspace memory files and are no longer sent to the model (with
  `"trimmed": true`: dropped from the model's context unconsolidated, at the
  history cap).

A crash can leave a torn last line (no trailing newline): `load` drops it and
truncates the file back to its last complete line before anything else is
appended. Other undecodable lines are skipped and counted.

A torn batch or a skipped line can also leave the history ill-formed for the
LLM APIs, which reject (HTTP 400, on every later request) an assistant tool
call without its result and a result without its call. `pair_tool_results`
repairs that on load, in memory: a call left unanswered gets a synthetic
error result right after its assistant message ("interrupted; outcome
unknown"), and a result whose call is missing is dropped. Answering rather
than dropping the call keeps the record that the model did act (a write or a
command may well have run before the crash), so the model checks instead of
assuming nothing happened. The repair is a pure function of the journal's
lines and only inserts at the damaged spot, so a journal that later grows by
appends repairs to the same positions: `consolidated` indexes stay valid.

File names come from `session_file_name`, never from the raw key, so a chat id
like `../../x` cannot leave the directory. The store refuses a sessions
directory inside the workspace: the model must never read or forge history.
All methods but `may_exist` are blocking; actors call them through their
disk runner (worker threads).

A journal is only ever a regular file: it is opened with `O_NOFOLLOW` (a
symbolic link is refused on load as on append, never followed) and
`O_NONBLOCK` (a FIFO or a device in its place cannot hang the turn), and the
opened descriptor is `fstat`-ed before anything is read. Every way the
journal or the sessions directory can fail is a `JournalError`: one line
naming the file relative to the bot directory (`sessions/cli_x-<hash>.jsonl`)
and the reason, never a host path or a secret; `journal_failure` finds it
behind a crashed turn so the operator sees that line instead of "unknown
error".

Appends keep their system calls few (each one is a thread hand-off of the
GIL, which the event loop feels under a burst): the directory is made
private on the first append (and again if it disappears), and a file's mode
is checked on its first append by this process only (a file loosened later
is tightened again at the next start, by the gateway's state check).

Which journals exist is known without touching the disk once `scan` has
listed the directory: `may_exist(key)` is then False for a key with no file,
so a new conversation's first turn needs no read before its LLM call. The
index is this process's view (the scan, plus every file it appends to): a
journal another process creates for the same key later is not seen (two
processes must not serve one session; its lines would interleave anyway),
and one deleted behind its back just loads empty.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from autobot.llm.types import ChatMessage, Role, ToolCall
from autobot.security.paths import is_within
from autobot.security.regular_file import FileRefused, open_regular, read_fd
from autobot.store.atomic import (
    append_private_lines,
    complete_lines,
    ensure_private_dir,
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_READABLE_PREFIX = 48


class SessionStoreError(ValueError):
    """The store cannot be used as configured (e.g. sessions inside the workspace)."""


class JournalError(OSError):
    """A session journal or the sessions directory cannot be used. `str()` is
    one line naming the file relative to the bot directory and the reason."""


def journal_failure(exc: BaseException) -> str | None:
    """The message of the `JournalError` behind `exc` (searched through
    exception groups and causes), for the log-safe failure of a crashed
    turn; None when there is none."""
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if isinstance(current, JournalError):
            return str(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        elif current.__cause__ is not None:
            pending.append(current.__cause__)
    return None


def _reason(exc: OSError) -> str:
    if isinstance(exc, NotADirectoryError) and exc.strerror is None:
        return "it is not a directory (nor a symbolic link to one)"  # ensure_private_dir's
    return exc.strerror or type(exc).__name__


def session_file_name(key: str) -> str:
    """A safe, unique file name for session `key`: a readable sanitised prefix
    plus a hash of the exact key (`telegram_42-<16 hex>.jsonl`). Only
    `[A-Za-z0-9_-]` and the `.jsonl` suffix ever appear."""
    readable = _UNSAFE.sub("_", key)[:_READABLE_PREFIX].strip("_-") or "session"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{readable}-{digest}.jsonl"


def encode_message(message: ChatMessage) -> dict[str, Any]:
    """A JSON-ready dict for one message (inverse of `decode_message`)."""
    entry: dict[str, Any] = {"t": "msg", "role": message.role.value, "content": message.content}
    if message.tool_calls:
        entry["tool_calls"] = [
            {"id": c.id, "name": c.name, "arguments": dict(c.arguments)} for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        entry["tool_call_id"] = message.tool_call_id
    if message.is_error:
        entry["is_error"] = True
    return entry


def decode_message(entry: Mapping[str, Any]) -> ChatMessage:
    """The `ChatMessage` of a `msg` entry; raises ValueError on a bad shape."""
    try:
        calls = tuple(
            ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=dict(c["arguments"]))
            for c in entry.get("tool_calls", ())
        )
        content = entry["content"]
        call_id = entry.get("tool_call_id")
        if not isinstance(content, str) or not (call_id is None or isinstance(call_id, str)):
            raise TypeError("content and tool_call_id must be strings")
        return ChatMessage(
            role=Role(entry["role"]),
            content=content,
            tool_calls=calls,
            tool_call_id=call_id,
            is_error=entry.get("is_error") is True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed message entry: {exc}") from exc


def usage_entry(day: str, tokens: int) -> dict[str, Any]:
    return {"t": "usage", "day": day, "tokens": tokens}


def consolidated_entry(upto: int, *, trimmed: bool = False) -> dict[str, Any]:
    """The first `upto` messages are no longer sent to the model: folded into the
    memory files, or (`trimmed`) dropped unconsolidated at the history cap."""
    entry: dict[str, Any] = {"t": "consolidated", "upto": upto}
    if trimmed:
        entry["trimmed"] = True
    return entry


@attrs.frozen(kw_only=True)
class LoadedSession:
    """What `SessionStore.load` found.

    `messages` is the whole journal's history (tool calls and results paired,
    see `pair_tool_results`), `consolidated_upto` how many of its first
    messages are already in memory files, `tokens_by_day` the spend per UTC
    day, `repaired` whether a torn last line was cut, `skipped` how many other
    lines could not be decoded, `answered_calls` how many unanswered tool calls
    got a synthetic result and `dropped_results` how many orphan results were left out.
    """

    messages: tuple[ChatMessage, ...] = ()
    consolidated_upto: int = 0
    tokens_by_day: Mapping[str, int] = attrs.field(factory=dict)
    repaired: bool = False
    skipped: int = 0
    answered_calls: int = 0
    dropped_results: int = 0

    @property
    def damaged(self) -> bool:
        """Whether anything had to be cut, skipped or repaired."""
        return bool(self.repaired or self.skipped or self.answered_calls or self.dropped_results)


INTERRUPTED_RESULT = (
    "Interrupted: autobot stopped before this tool call's result was recorded, so its "
    "outcome is unknown (it may or may not have run). Check before relying on it."
)


def interrupted_result(call: ToolCall) -> ChatMessage:
    """The synthetic error result answering `call` after an interruption."""
    return ChatMessage(
        role=Role.TOOL, content=INTERRUPTED_RESULT, tool_call_id=call.id, is_error=True
    )


def pair_tool_results(
    messages: Iterable[ChatMessage],
) -> tuple[list[ChatMessage], int, int]:
    """`messages` with every tool call answered and every result matched (pure).

    Results of an assistant message's calls are the TOOL messages right after
    it. A call with no result there gets `interrupted_result` (placed after the
    results that did arrive); a TOOL message that answers no pending call is
    dropped. Returns (messages, calls answered, results dropped).
    """
    out: list[ChatMessage] = []
    pending: dict[str, ToolCall] = {}
    answered = dropped = 0

    def close_pending() -> None:
        nonlocal answered
        out.extend(interrupted_result(call) for call in pending.values())
        answered += len(pending)
        pending.clear()

    for message in messages:
        if message.role is Role.TOOL:
            if message.tool_call_id is not None and message.tool_call_id in pending:
                del pending[message.tool_call_id]
                out.append(message)
            else:
                dropped += 1
            continue
        close_pending()
        out.append(message)
        pending.update((call.id, call) for call in message.tool_calls)
    close_pending()
    return out, answered, dropped


def parse_journal(lines: Iterable[bytes]) -> LoadedSession:
    """Fold complete journal lines into a `LoadedSession`, tool calls and
    results paired (pure)."""
    messages: list[ChatMessage] = []
    upto = 0
    tokens: dict[str, int] = {}
    skipped = 0
    for raw in lines:
        try:
            entry = json.loads(raw)
            kind = entry["t"]
            if kind == "msg":
                messages.append(decode_message(entry))
            elif kind == "usage":
                day, used = str(entry["day"]), int(entry["tokens"])
                tokens[day] = tokens.get(day, 0) + used
            elif kind == "consolidated":
                upto = max(upto, int(entry["upto"]))
            else:
                raise ValueError(f"unknown entry type {kind!r}")
        except (ValueError, TypeError, KeyError):
            skipped += 1
    paired, answered, dropped = pair_tool_results(messages)
    return LoadedSession(
        messages=tuple(paired),
        consolidated_upto=min(upto, len(paired)),
        tokens_by_day=tokens,
        skipped=skipped,
        answered_calls=answered,
        dropped_results=dropped,
    )


@attrs.define(eq=False)
class _JournalIndex:
    """What this process knows of the journals (the file system may change
    behind it; see the module docstring): `names` of the journals known to
    exist (None until a scan: every key may then have a journal), the files
    already seen owner-only (`tightened`, their mode is not checked on every
    append) and whether the directory was made ready."""

    names: set[str] | None = None
    tightened: set[str] = attrs.field(factory=set)
    directory_ready: bool = False


@attrs.frozen
class SessionStore:
    """Session journals under `sessions_dir`, which must not be inside `workspace`.

    Raises `SessionStoreError` at construction when it is. `_index` knows
    which journals exist once `scan`-ned (see the module docstring).
    """

    sessions_dir: Path
    workspace: Path
    _index: _JournalIndex = attrs.field(init=False, factory=_JournalIndex, eq=False)

    def __attrs_post_init__(self) -> None:
        if is_within(self.sessions_dir, self.workspace):
            raise SessionStoreError(
                f"sessions directory {self.sessions_dir} is inside the workspace "
                f"{self.workspace}; the model could read or forge conversation history"
            )

    def path_for(self, key: str) -> Path:
        return self.sessions_dir / session_file_name(key)

    def _shown(self, name: str | None = None) -> str:
        """A journal (or, without `name`, the directory) as the operator sees
        it from the bot directory: `sessions/<name>`."""
        directory = self.sessions_dir.name
        return directory if name is None else f"{directory}/{name}"

    def _journal_error(self, verb: str, name: str, exc: OSError | FileRefused) -> JournalError:
        if isinstance(exc, FileRefused):
            return JournalError(f"session journal {self._shown(name)} {exc}")
        if exc.errno == errno.ENXIO:  # opened for writing: a FIFO without reader, a socket
            return JournalError(
                f"session journal {self._shown(name)} is not a regular file (a FIFO or a socket)"
            )
        if isinstance(exc, NotADirectoryError):
            reason = f"{self._shown()} is not a directory"
        else:
            reason = _reason(exc)
        return JournalError(f"cannot {verb} session journal {self._shown(name)}: {reason}")

    def scan(self) -> None:
        """Index the journals that exist now (one listing; blocking). A missing
        directory is an empty index; raises `JournalError` (an OSError) when
        it cannot be listed."""
        try:
            names = set(os.listdir(self.sessions_dir))
        except FileNotFoundError:
            names = set()
        except OSError as exc:
            raise JournalError(
                f"cannot list the sessions directory {self._shown()}: {_reason(exc)}"
            ) from exc
        self._index.names = names

    def may_exist(self, key: str) -> bool:
        """Whether session `key` may have a journal (never blocks): False only
        when the index, once `scan`-ned, knows of no file for it."""
        known = self._index.names
        return known is None or session_file_name(key) in known

    def load(self, key: str) -> LoadedSession:
        """Read session `key` (empty if it has no file), repairing a torn last line.

        Raises `JournalError` when the journal is not a regular file (a
        symbolic link, a FIFO, a directory...) or cannot be read or repaired.
        """
        name = session_file_name(key)
        path = self.sessions_dir / name
        try:
            fd = open_regular(path, follow_symlinks=False)
        except FileNotFoundError:
            return LoadedSession()
        except (OSError, FileRefused) as exc:
            raise self._journal_error("read", name, exc) from exc
        try:
            data = read_fd(fd, limit=None)
            read = os.fstat(fd)
        except OSError as exc:
            raise self._journal_error("read", name, exc) from exc
        finally:
            os.close(fd)
        kept = complete_lines(data)
        repaired = len(kept) != len(data)
        if repaired:
            try:
                _truncate_same_file(path, read, len(kept))
            except (OSError, FileRefused) as exc:
                raise self._journal_error("repair", name, exc) from exc
        loaded = parse_journal(line for line in kept.split(b"\n") if line.strip())
        return attrs.evolve(loaded, repaired=repaired)

    def append(self, key: str, entries: Iterable[Mapping[str, Any]], *, sync: bool = True) -> None:
        """Append `entries` (from `encode_message`, `usage_entry`...) in one write.

        With `sync` (the default) the file is fsync-ed: these entries, and any
        appended unsynced before them, are durable when this returns. Without
        it they survive a crash of the process but not of the machine until
        the next synced append of `key`. Nothing is written (and nothing
        synced) when `entries` is empty or one cannot be encoded
        (TypeError/ValueError from `json.dumps`).
        """
        lines = [json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in entries]
        if not lines:
            return
        index, name = self._index, session_file_name(key)
        new = index.names is not None and name not in index.names
        if index.names is not None:
            index.names.add(name)  # first: a failed append may still create it
        path = self.sessions_dir / name
        if not index.directory_ready:
            self._ensure_directory()
            index.directory_ready = True
        trusted = name in index.tightened
        try:
            append_private_lines(path, lines, sync=sync, new=new, trusted_mode=trusted)
        except FileNotFoundError as exc:
            if os.path.isdir(self.sessions_dir):
                raise self._journal_error("write", name, exc) from exc
            self._ensure_directory()  # removed while running: nothing was written
            self._append_again(name, lines, sync=sync)
        except (OSError, FileRefused) as exc:
            raise self._journal_error("write", name, exc) from exc
        index.tightened.add(name)

    def archive(self, key: str, stamp: str) -> bool:
        """Move session `key`'s journal aside (`<name>.archived-<stamp>`, which
        no load or scan reads again) so the next turn starts a new
        conversation; False when it has no journal. Blocking; JournalError."""
        name = session_file_name(key)
        try:
            os.rename(self.sessions_dir / name, self.sessions_dir / f"{name}.archived-{stamp}")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._journal_error("archive", name, exc) from exc
        finally:
            if self._index.names is not None:
                self._index.names.discard(name)
        return True

    def _append_again(self, name: str, lines: list[str], *, sync: bool) -> None:
        try:
            append_private_lines(self.sessions_dir / name, lines, sync=sync, new=True)
        except (OSError, FileRefused) as exc:
            raise self._journal_error("write", name, exc) from exc

    def _ensure_directory(self) -> None:
        try:
            ensure_private_dir(self.sessions_dir)
        except OSError as exc:
            raise JournalError(
                f"cannot use the sessions directory {self._shown()}: {_reason(exc)}"
            ) from exc


def _truncate_same_file(path: Path, read: os.stat_result, length: int) -> None:
    """Cut the journal at `path` to `length` bytes, if it still is the file
    that was read (`read`: its fstat); opened again without following links."""
    fd = open_regular(path, flags=os.O_WRONLY, follow_symlinks=False)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (read.st_dev, read.st_ino):
            raise FileRefused("was replaced while it was read")
        os.ftruncate(fd, length)
    finally:
        os.close(fd)
