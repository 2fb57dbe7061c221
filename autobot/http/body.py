"""Reading an HTTP body up to a byte cap: one helper for every client and server side.

`read_capped(chunks, max_bytes, overflow)` reads an async iterable of byte
chunks and never keeps more than `max_bytes`; it stops reading as soon as
the cap is passed. What happens then is the caller's explicit choice:
`Overflow.TRUNCATE` keeps the first `max_bytes` and reports `capped`
(web_fetch shows the start of a big page), `Overflow.REFUSE` raises
`BodyTooLarge` (web_search will not parse half an API answer; the Bot API
client, the transcription client and the webhook endpoint refuse too).
`declared_over` refuses a body by its Content-Length before reading any.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterable, Mapping

import attrs


class Overflow(enum.Enum):
    """What `read_capped` does with a body larger than the cap."""

    TRUNCATE = "truncate"
    REFUSE = "refuse"


class BodyTooLarge(Exception):
    """A body past the cap under `Overflow.REFUSE`; `str()` says the cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"response is larger than {max_bytes} bytes")


@attrs.frozen
class CappedBody:
    """The bytes kept; `capped` when the body went on past them."""

    data: bytes
    capped: bool


async def read_capped(
    chunks: AsyncIterable[bytes], max_bytes: int, overflow: Overflow
) -> CappedBody:
    """At most `max_bytes` of `chunks`; raises `BodyTooLarge` past the cap
    when `overflow` is `Overflow.REFUSE`."""
    kept: list[bytes] = []
    size = 0
    async for chunk in chunks:
        room = max_bytes - size
        if len(chunk) > room:
            if overflow is Overflow.REFUSE:
                raise BodyTooLarge(max_bytes)
            kept.append(chunk[:room])
            return CappedBody(b"".join(kept), capped=True)
        kept.append(chunk)
        size += len(chunk)
    return CappedBody(b"".join(kept), capped=False)


def declared_over(headers: Mapping[str, str], max_bytes: int) -> bool:
    """Whether a Content-Length header already announces more than `max_bytes`."""
    declared = headers.get("content-length", "")
    return declared.isdigit() and int(declared) > max_bytes
