"""Structured log records and the `Logger` handle that actors use to emit them.

A `Logger` never blocks and never raises: it hands each record to the log
actor's mailbox with `send_nowait`, and a full or closed mailbox only bumps a
shared `DropCounter`. Redaction happens in the log actor, before any sink, so
a record may carry raw text here.

Operators grep for three well-known prefixes; use the helpers below rather
than spelling them by hand: `ACCESS DENIED`, `Executing tool:`, `Tokens:`.
"""

from __future__ import annotations

import enum
import time
import traceback
from collections.abc import Callable, Mapping

import attrs
import trio

ACCESS_DENIED = "ACCESS DENIED"
EXECUTING_TOOL = "Executing tool:"
TOKENS = "Tokens:"


class Level(enum.IntEnum):
    """Record severity; WARN covers failed operations and ACCESS DENIED."""

    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40


@attrs.frozen(kw_only=True)
class LogRecord:
    """One immutable log event. `time` is wall-clock epoch seconds."""

    time: float
    level: Level
    source: str
    message: str
    fields: tuple[tuple[str, str], ...] = ()
    exc_text: str | None = None


@attrs.define
class DropCounter:
    """Counts records that could not be delivered to the log actor."""

    dropped: int = 0


def format_exception(exc: BaseException) -> str:
    """The full traceback text of `exc` (redacted later by the log actor)."""
    return "".join(traceback.format_exception(exc)).rstrip()


@attrs.define(kw_only=True)
class Logger:
    """A per-actor handle that emits `LogRecord`s into the log actor's mailbox.

    `source` names the emitting actor (`gateway`, `agent:telegram:42`, ...).
    `child(name)` returns a logger for a sub-component sharing the same mailbox
    and drop counter.
    """

    source: str
    send_channel: trio.MemorySendChannel[LogRecord]
    drops: DropCounter = attrs.field(factory=DropCounter)
    wall_clock: Callable[[], float] = time.time

    def child(self, source: str) -> Logger:
        return attrs.evolve(self, source=source)

    def log(
        self,
        level: Level,
        message: str,
        *,
        exc: BaseException | None = None,
        **fields: object,
    ) -> None:
        self.emit(level, message, exc, fields)

    def emit(
        self,
        level: Level,
        message: str,
        exc: BaseException | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> None:
        """Send one record; `fields` as a mapping (for callers that build them)."""
        record = LogRecord(
            time=self.wall_clock(),
            level=level,
            source=self.source,
            message=message,
            fields=tuple((key, str(value)) for key, value in (fields or {}).items()),
            exc_text=format_exception(exc) if exc is not None else None,
        )
        try:
            self.send_channel.send_nowait(record)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.drops.dropped += 1

    def debug(self, message: str, **fields: object) -> None:
        self.emit(Level.DEBUG, message, None, fields)

    def info(self, message: str, **fields: object) -> None:
        self.emit(Level.INFO, message, None, fields)

    def warn(self, message: str, **fields: object) -> None:
        self.emit(Level.WARN, message, None, fields)

    def error(self, message: str, *, exc: BaseException | None = None, **fields: object) -> None:
        self.emit(Level.ERROR, message, exc, fields)

    def access_denied(self, reason: str, **fields: object) -> None:
        """A security block: WARN `ACCESS DENIED: <reason>`."""
        self.emit(Level.WARN, f"{ACCESS_DENIED}: {reason}", None, fields)

    def executing_tool(self, name: str, **fields: object) -> None:
        self.emit(Level.INFO, f"{EXECUTING_TOOL} {name}", None, fields)
