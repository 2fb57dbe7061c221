"""The cron store: one JSON file of jobs, shared by the gateway and the CLI (sync).

The file (`cron.store`, `./cron.json` in the bot directory) is
`{"version": 1, "jobs": [...]}`, mode 0600. The gateway's scheduler and
`autobot cron` may change it at the same time, so it is a
`store.shared_file.SharedFile` (as the pairing store is): a change is a
transaction under the lock `.<name>.lock` beside it, which reads the file
fresh, applies a pure function of the book (`autobot.cron.book`) and writes
the successor only if it changed; reading needs no lock, and `stamp()` tells
whether anyone changed the book since. A store that is not a regular file,
is larger than `MAX_STORE_BYTES`, is not a valid book or has another version
raises `CronStoreError` naming the file, and is never written over: no job
runs until it is fixed or removed.

All methods block (file I/O, `flock`): Trio code calls them through
`trio.to_thread.run_sync` with a named `CapacityLimiter`. A store has one
owner (not thread-safe); close it with `close()` or use it as a context
manager.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs

from autobot.cron.book import BOOK_VERSION, JobBook
from autobot.cron.jobs import (
    Action,
    AgentTurn,
    AtSchedule,
    Command,
    CronError,
    CronSchedule,
    EverySchedule,
    Job,
    RunRecord,
    RunStatus,
    Schedule,
)
from autobot.cron.schedule import check_cron
from autobot.store.atomic import write_private_file
from autobot.store.shared_file import SharedFile, Stamp, reason_of
from autobot.store.strict_json import decode_document, encode_document, exact_fields, list_field

# Hundreds of jobs at their largest (4000-character messages of 4-byte
# characters), tens of thousands of ordinary ones; a larger file is refused,
# never half-read.
MAX_STORE_BYTES = 8 << 20
STORE_VERSION = BOOK_VERSION

T = TypeVar("T")


class CronStoreError(Exception):
    """The store cannot be used: unreadable, not a regular file, too large,
    not a valid job book, another version, or its lock or a write failed.
    The message names the file and the problem; the file was left untouched."""


@attrs.define
class CronStore:
    """The job book in the file `path` (see the module docstring)."""

    path: Path
    _file: SharedFile[JobBook] = attrs.field(init=False)

    @_file.default
    def _shared_file(self) -> SharedFile[JobBook]:
        return SharedFile(
            path=self.path,
            lock_path=self.path.with_name(f".{self.path.name}.lock"),
            limit=MAX_STORE_BYTES,
            decode=decode_book,
            empty=JobBook(),
            name="cron",
            until_fixed="no scheduled job runs",
            error=CronStoreError,
        )

    @property
    def lock_path(self) -> Path:
        return self._file.lock_path

    def stamp(self) -> Stamp | None:
        """What identifies the file's current version (None: no file): compare
        two stamps to learn whether anyone changed the book in between. Take
        it before `load()`. Raises `CronStoreError` when the file cannot be
        examined."""
        return self._file.stamp()

    def load(self) -> JobBook:
        """The book as the file holds it now; an empty book when there is no
        file (nothing is created). Re-reads the file only when its stamp
        changed. Raises `CronStoreError` (see the module docstring)."""
        return self._file.load()

    def transact(self, change: Callable[[JobBook], tuple[JobBook, T]]) -> T:
        """Apply `change` to the book read fresh under the store lock, write
        the book it returns if that differs, and return its other result.

        `change` must be pure (a `book` operation): when it raises (e.g.
        `CronError` for a refused request) nothing is written. Raises
        `CronStoreError` when the store or its lock is unusable or the write
        fails (the old file is then intact), and `CronError` when the new book
        would exceed `MAX_STORE_BYTES`.
        """
        with self._file.locked():
            book = self._file.read()  # never the cached book: a write must start from the file
            successor, result = change(book)
            if successor != book:
                payload = encode_book(successor)
                if len(payload) > MAX_STORE_BYTES:
                    raise CronError(
                        f"the cron store would exceed {MAX_STORE_BYTES} bytes; remove jobs first"
                    )
                try:
                    write_private_file(self.path, payload)
                except OSError as error:
                    raise CronStoreError(
                        f"cannot write the cron store {self.path}: {reason_of(error)}."
                        " The old file is intact"
                    ) from error
            return result

    def close(self) -> None:
        """Release the loaded file (the store stays usable: it reloads)."""
        self._file.close()

    def __enter__(self) -> CronStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _schedule_document(schedule: Schedule) -> dict[str, Any]:
    if isinstance(schedule, EverySchedule):
        return {"kind": "every", "seconds": schedule.seconds}
    if isinstance(schedule, CronSchedule):
        return {"kind": "cron", "expr": schedule.expr, "tz": schedule.tz}
    return {"kind": "at", "at": schedule.at}


def _action_document(action: Action) -> dict[str, Any]:
    if isinstance(action, AgentTurn):
        return {"kind": "agent_turn", "message": action.message}
    return {"kind": "command", "command": action.command}


def _run_document(record: RunRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "at": record.at,
        "status": record.status.value,
        "error": record.error,
        "duration": record.duration,
    }


def encode_book(book: JobBook) -> bytes:
    """The file form of `book`: UTF-8 JSON, version `STORE_VERSION`."""
    document = {
        "version": STORE_VERSION,
        "jobs": [
            {
                "id": job.id,
                "owner": job.owner,
                "name": job.name,
                "schedule": _schedule_document(job.schedule),
                "action": _action_document(job.action),
                "enabled": job.enabled,
                "created_at": job.created_at,
                "next_run_at": job.next_run_at,
                "last_run": _run_document(job.last_run),
                "runs": job.runs,
                "skipped": job.skipped,
            }
            for job in book.jobs
        ],
    }
    return encode_document(document, ascii_only=False)


_JOB_KEYS = {
    "id",
    "owner",
    "name",
    "schedule",
    "action",
    "enabled",
    "created_at",
    "next_run_at",
    "last_run",
    "runs",
    "skipped",
}


def decode_book(data: bytes) -> JobBook:
    """The book in `data` (see `encode_book`). Raises `ValueError` naming the
    first problem: not UTF-8 JSON, duplicate or unknown or missing keys,
    another version, a value a job cannot have (`CronError` is a
    `ValueError`), a job id used twice."""
    document = decode_document(data, kind="a cron store")
    if not isinstance(document, dict) or "version" not in document:
        raise ValueError("it has no version: it is not a cron store")
    version = document["version"]
    if version != STORE_VERSION or isinstance(version, bool):
        raise ValueError(
            f"its version is {version!r}, and this autobot reads version {STORE_VERSION}"
            " (was it written by a newer autobot?)"
        )
    fields = exact_fields(document, "the top level", {"version", "jobs"})
    jobs = tuple(_job(item, f"jobs[{i}]") for i, item in enumerate(list_field(fields, "jobs")))
    try:
        return JobBook(version=STORE_VERSION, jobs=jobs)
    except CronError as error:
        raise ValueError(str(error)) from None


def _job(item: object, where: str) -> Job:
    fields = exact_fields(item, where, _JOB_KEYS)
    try:
        return Job(
            id=fields["id"],
            owner=fields["owner"],
            name=fields["name"],
            schedule=_schedule(fields["schedule"], f"{where}.schedule"),
            action=_action(fields["action"], f"{where}.action"),
            enabled=fields["enabled"],
            created_at=fields["created_at"],
            next_run_at=fields["next_run_at"],
            last_run=_run(fields["last_run"], f"{where}.last_run"),
            runs=fields["runs"],
            skipped=fields["skipped"],
        )
    except CronError as error:
        raise ValueError(f"{where}: {error}") from None


def _kind(item: object, where: str, kinds: dict[str, set[str]]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"{where} is not an object")
    kind = item.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(f"{where}.kind is not one of {', '.join(kinds)}")
    return exact_fields(item, where, {"kind", *kinds[kind]})


def _schedule(item: object, where: str) -> Schedule:
    fields = _kind(item, where, {"every": {"seconds"}, "cron": {"expr", "tz"}, "at": {"at"}})
    try:
        if fields["kind"] == "every":
            return EverySchedule(seconds=fields["seconds"])
        if fields["kind"] == "at":
            return AtSchedule(at=fields["at"])
        schedule = CronSchedule(expr=fields["expr"], tz=fields["tz"])
        check_cron(schedule)
        return schedule
    except CronError as error:
        raise ValueError(f"{where}: {error}") from None


def _action(item: object, where: str) -> Action:
    fields = _kind(item, where, {"agent_turn": {"message"}, "command": {"command"}})
    try:
        if fields["kind"] == "agent_turn":
            return AgentTurn(message=fields["message"])
        return Command(command=fields["command"])
    except CronError as error:
        raise ValueError(f"{where}: {error}") from None


def _run(item: object, where: str) -> RunRecord | None:
    if item is None:
        return None
    fields = exact_fields(item, where, {"at", "status", "error", "duration"})
    try:
        status = RunStatus(fields["status"])
    except ValueError:
        raise ValueError(
            f"{where}.status is not one of {', '.join(s.value for s in RunStatus)}"
        ) from None
    try:
        return RunRecord(
            at=fields["at"], status=status, error=fields["error"], duration=fields["duration"]
        )
    except CronError as error:
        raise ValueError(f"{where}: {error}") from None
