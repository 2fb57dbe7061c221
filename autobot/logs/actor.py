"""The log actor: the only reader of the log mailbox and the only writer of sinks.

Every record is level-filtered, redacted, formatted, redacted once more as a
whole line (a known secret could otherwise be assembled across the message /
field boundary), then written to every sink. Senders never block: they use
`Logger.send_nowait` and a full mailbox bumps the shared `DropCounter`; the
actor reports new drops as a WARN after the batch that follows them and once
more at shutdown.

The gateway starts this actor first and stops it last, by closing the send
side of the mailbox: the actor then drains what is left, reports drops, closes
(fsyncs) the sinks and returns. If it is cancelled instead, it still tries to
write what is waiting, shielded and bounded by `CLOSE_GRACE_SECONDS`.

A sink that raises (disk full, log file replaced by a symlink) crashes the
actor; its supervisor restarts it with the same mailbox, which it does not
close. Restarted incarnations count drops from zero, so a drop total may be
reported again after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import attrs
import trio

from autobot.config.schema import LogLevel
from autobot.logs.format import format_record
from autobot.logs.records import DropCounter, Level, Logger, LogRecord
from autobot.logs.redact import Redactor
from autobot.logs.sinks import Sink

# Absorbs a burst (a tool loop, a reconnect storm) while the sink thread is busy
# writing the previous batch; beyond this, logging drops and counts rather than
# ever blocking an actor. 1024 short records is well under a megabyte.
LOG_MAILBOX_SIZE = 1024
# Records handed to the sinks per thread hop; bounds the latency of one write.
LOG_BATCH_MAX = 256
# How long a cancelled actor may spend writing what is waiting and closing sinks.
CLOSE_GRACE_SECONDS = 5.0
LOG_SOURCE = "logs"


def open_log_mailbox(
    source: str = "gateway", *, wall_clock: Callable[[], float] = time.time
) -> tuple[Logger, trio.MemoryReceiveChannel[LogRecord]]:
    """A root `Logger` (with a fresh `DropCounter`) and the receive side of its
    `LOG_MAILBOX_SIZE` mailbox. Hand `logger.drops` and the receive channel to
    `LogActor`; close `logger.send_channel` last to stop the actor."""
    send, receive = trio.open_memory_channel[LogRecord](LOG_MAILBOX_SIZE)
    return Logger(source=source, send_channel=send, wall_clock=wall_clock), receive


def level_from_config(level: LogLevel) -> Level:
    """The record `Level` matching the configured minimum `logging.level`."""
    return Level[level.name]


def render(record: LogRecord, redactor: Redactor) -> str:
    """The record as it may appear in a sink: redacted field by field, formatted,
    then redacted again as a whole."""
    return redactor.redact(format_record(redactor.redact_record(record)))


@attrs.define(kw_only=True)
class LogActor:
    """Owns the receive side of the log mailbox, the `Redactor`, the minimum
    level and the sinks (opened in `run`, closed when it ends)."""

    receive_channel: trio.MemoryReceiveChannel[LogRecord]
    drops: DropCounter
    redactor: Redactor
    sinks: Sequence[Sink]
    min_level: Level = Level.INFO
    wall_clock: Callable[[], float] = time.time
    _reported_drops: int = attrs.field(default=0, init=False)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open every sink, signal started, then write batches until the mailbox
        closes. Raises whatever a sink raises (after closing the opened sinks)."""
        opened: list[Sink] = []
        try:
            for sink in self.sinks:
                await sink.open()
                opened.append(sink)
            task_status.started()
            async for record in self.receive_channel:
                # A batch taken from the mailbox is written whole: a cancel that
                # came meanwhile (the tree stopping) waits for it, bounded.
                with trio.move_on_after(CLOSE_GRACE_SECONDS, shield=True):
                    await self._write([record, *self._take_waiting()], opened)
            await self._report_drops(opened)
        except trio.Cancelled:
            with trio.move_on_after(CLOSE_GRACE_SECONDS, shield=True):
                while batch := self._take_waiting():
                    await self._write(batch, opened)
                await self._report_drops(opened)
            raise
        finally:
            with trio.move_on_after(CLOSE_GRACE_SECONDS, shield=True):
                for sink in opened:
                    await sink.aclose()

    def _take_waiting(self) -> list[LogRecord]:
        """Up to `LOG_BATCH_MAX` records already in the mailbox, without waiting."""
        batch: list[LogRecord] = []
        while len(batch) < LOG_BATCH_MAX:
            try:
                batch.append(self.receive_channel.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return batch

    async def _write(self, records: Sequence[LogRecord], sinks: Sequence[Sink]) -> None:
        lines = [render(r, self.redactor) for r in records if r.level >= self.min_level]
        for sink in sinks:
            await sink.write_lines(lines)
        await self._report_drops(sinks)

    async def _report_drops(self, sinks: Sequence[Sink]) -> None:
        """One WARN for the drops since the last report (always written, whatever
        the minimum level: lost records are themselves worth knowing)."""
        new = self.drops.dropped - self._reported_drops
        if new <= 0:
            return
        self._reported_drops = self.drops.dropped
        warning = LogRecord(
            time=self.wall_clock(),
            level=Level.WARN,
            source=LOG_SOURCE,
            message=f"log mailbox full: {new} records dropped",
            fields=(("total_dropped", str(self.drops.dropped)),),
        )
        line = render(warning, self.redactor)
        for sink in sinks:
            await sink.write_lines([line])
