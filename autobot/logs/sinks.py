"""Log sinks: where formatted, already-redacted lines go.

Decision on blocking I/O: the log actor hands a sink a *batch* (everything
waiting in the mailbox), and the sink does the blocking writes for the whole
batch in one `trio.to_thread.run_sync` call under its own named
`CapacityLimiter(1)`. One thread hop per batch keeps the actor responsive under
bursts, and the limiter of 1 keeps writes to one file strictly ordered.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

import attrs
import trio

from autobot.config.schema import LoggingConfig
from autobot.logs.rotating import RotatingFile

LOG_FILE_NAME = "autobot.log"


class LineWriter(Protocol):
    """A blocking destination for lines (runs in a worker thread)."""

    def open(self) -> None: ...

    def write_lines(self, lines: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class Sink(Protocol):
    """What the log actor writes to: `open`, then `write_lines` batches, then `aclose`."""

    async def open(self) -> None: ...

    async def write_lines(self, lines: Sequence[str]) -> None: ...

    async def aclose(self) -> None: ...


@attrs.define(kw_only=True)
class StreamWriter:
    """Writes lines to a text stream (stderr) and flushes after each batch.
    The stream is borrowed: `close()` only flushes it."""

    stream: TextIO

    def open(self) -> None:
        return None

    def write_lines(self, lines: Sequence[str]) -> None:
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


@attrs.define(kw_only=True)
class ThreadedSink:
    """A `Sink` running a blocking `LineWriter` in a worker thread.

    `limiter` is this sink's own `CapacityLimiter(1)` (named by its `name`), so
    one sink's slow disk never takes threads from another part of autobot.
    """

    name: str
    writer: LineWriter
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def open(self) -> None:
        await trio.to_thread.run_sync(self.writer.open, limiter=self.limiter)

    async def write_lines(self, lines: Sequence[str]) -> None:
        if lines:
            await trio.to_thread.run_sync(self.writer.write_lines, lines, limiter=self.limiter)

    async def aclose(self) -> None:
        await trio.to_thread.run_sync(self.writer.close, limiter=self.limiter)


def stderr_sink(stream: TextIO | None = None) -> ThreadedSink:
    """A sink writing to `stream` (default: the process's stderr)."""
    return ThreadedSink(name="log-stderr", writer=StreamWriter(stream=stream or sys.stderr))


def rotating_file_sink(path: Path, *, max_bytes: int, backups: int) -> ThreadedSink:
    """A sink writing to the 0600, size-rotated file at `path` (`logs/autobot.log`)."""
    return ThreadedSink(
        name="log-file", writer=RotatingFile(path=path, max_bytes=max_bytes, backups=backups)
    )


def sinks_from_config(logging: LoggingConfig, *, logs_dir: Path, echo: TextIO | None) -> list[Sink]:
    """`<logs_dir>/autobot.log` (rotating per `logging`), plus `echo` (the
    gateway's stderr) when given; `autobot agent` keeps the terminal clean."""
    file_sink = rotating_file_sink(
        logs_dir / LOG_FILE_NAME, max_bytes=logging.max_bytes, backups=logging.backups
    )
    return [file_sink] if echo is None else [stderr_sink(echo), file_sink]
