"""A `Logger` whose records are kept in memory for assertions."""

from __future__ import annotations

import trio

from autobot.logs.records import Logger, LogRecord

CAPTURE_BUFFER = 10_000  # large enough that no test run drops a record


def capture_logger(source: str = "test") -> tuple[Logger, trio.MemoryReceiveChannel[LogRecord]]:
    """A logger plus the receive side of its mailbox."""
    send, receive = trio.open_memory_channel[LogRecord](CAPTURE_BUFFER)
    return Logger(source=source, send_channel=send), receive


def drain(receive: trio.MemoryReceiveChannel[LogRecord]) -> list[LogRecord]:
    """Every record currently waiting in `receive`, without blocking."""
    records: list[LogRecord] = []
    while True:
        try:
            records.append(receive.receive_nowait())
        except trio.WouldBlock:
            return records
