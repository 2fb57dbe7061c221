"""One JSON object per line over a byte stream: how the benchmark talks to its fakes.

The parent writes commands to a child's stdin and reads answers from its
stdout; the child does the reverse. A line longer than `MAX_LINE_BYTES`, a
line that is not a JSON object, or a stream that ends inside a line is a
`ProtocolError`: both ends are ours, so any of these is a bug to report, not
something to recover from.
"""

from __future__ import annotations

import json
from typing import Any

import trio

MAX_LINE_BYTES = 4 * 1024 * 1024  # a round of 10,000 messages is ~0.5 MB of samples
READ_BYTES = 65536


class ProtocolError(Exception):
    """The other end sent something that is not one JSON object per line."""


class LineReader:
    """Reads whole lines from `stream`; owns the bytes received past the last line."""

    def __init__(self, stream: trio.abc.ReceiveStream, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self._buffer = bytearray()

    async def next_object(self) -> dict[str, Any] | None:
        """The next line decoded as a JSON object, or None at a clean end of stream.
        Raises `ProtocolError` as the module says."""
        line = await self._next_line()
        if line is None:
            return None
        try:
            value = json.loads(line)
        except ValueError as error:
            raise ProtocolError(f"not JSON: {line[:200]!r} ({error})") from None
        if not isinstance(value, dict):
            raise ProtocolError(f"not a JSON object: {line[:200]!r}")
        return value

    async def _next_line(self) -> bytes | None:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > self.max_bytes:
                raise ProtocolError(f"a line longer than {self.max_bytes} bytes")
            chunk = await self.stream.receive_some(READ_BYTES)
            if not chunk:
                if self._buffer:
                    raise ProtocolError(f"the stream ended inside a line: {self._buffer[:200]!r}")
                return None
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


async def send_object(stream: trio.abc.SendStream, value: dict[str, Any]) -> None:
    """Write `value` as one line (compact JSON, which never contains a newline)."""
    await stream.send_all(json.dumps(value, separators=(",", ":")).encode() + b"\n")
