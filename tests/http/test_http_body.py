"""The one capped body reader: explicit truncate-or-refuse, and it stops reading at the cap."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from autobot.http.body import BodyTooLarge, CappedBody, Overflow, read_capped


async def chunks(*parts: bytes, endless: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        await trio.lowlevel.checkpoint()
        yield part
    while endless:
        await trio.lowlevel.checkpoint()
        yield b"z" * 1000


@pytest.mark.parametrize("overflow", list(Overflow))
async def test_a_body_within_the_cap_is_read_whole(overflow: Overflow) -> None:
    assert await read_capped(chunks(b"ab", b"cd"), 4, overflow) == CappedBody(b"abcd", False)
    assert await read_capped(chunks(), 4, overflow) == CappedBody(b"", False)


async def test_truncate_keeps_the_first_bytes_and_stops_reading() -> None:
    body = await read_capped(chunks(b"abc", b"def", endless=True), 4, Overflow.TRUNCATE)
    assert body == CappedBody(b"abcd", True)


async def test_refuse_raises_and_stops_reading() -> None:
    with pytest.raises(BodyTooLarge, match="response is larger than 4 bytes") as info:
        await read_capped(chunks(b"abc", b"de", endless=True), 4, Overflow.REFUSE)
    assert info.value.max_bytes == 4
