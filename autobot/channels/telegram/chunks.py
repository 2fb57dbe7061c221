"""Splitting rendered text into Telegram-sized messages (pure).

Telegram takes at most `MESSAGE_LIMIT` (4096) UTF-16 code units of text per
message and `CAPTION_LIMIT` (1024) per media caption. `split_rendered` cuts a
longer `RenderedText` greedily: each chunk is as long as the limit allows and
ends at the last boundary that fits, preferring, in this order,

1. a paragraph boundary (a whitespace run holding two or more line breaks),
2. a line boundary (a whitespace run holding one line break),
3. a word boundary (a run of other whitespace; no-break spaces never count),
4. a hard cut at a code point boundary (never inside a surrogate pair).

The whitespace run at a boundary is dropped; a hard cut drops nothing. Code
(code and pre entities) is never cut when it fits within the limit; a longer
code block is cut at its line breaks (each dropped), then hard, and every
piece becomes a pre entity of its own, in its own chunk. An entity crossing a
cut is split in two, one part per chunk, offsets rebased. Chunks holding only
whitespace (which Telegram rejects as empty) are left out, so an empty or
blank text gives no chunk at all.

`plain_chunks` applies the same cutting to plain text (the fallback when
formatted text is refused), and `split_caption` cuts a caption to 1024 and
sends the rest as messages.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

import attrs

from autobot.channels.telegram.render import Entity, RenderedText, utf16_offsets
from autobot.channels.utf16 import valid_utf16

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

# A surrogate pair is 2 code units: any smaller limit could not hold it.
MIN_LIMIT = 2

# Whitespace that separates words: no-break spaces (U+00A0, U+2007, U+202F) glue.
_WHITESPACE_RUN = re.compile(r"[^\S\xa0\u2007\u202f]+")
_LINE_BREAK = re.compile(r"\n")

# Boundary ranks, best first.
_PARAGRAPH, _LINE, _WORD = 0, 1, 2


@attrs.frozen
class _Gap:
    """Whitespace a chunk may end at: code points [start, end), dropped at a cut.

    `code` is the code region holding the gap (a line break inside a code
    block), which allows the cut only when that region exceeds the limit.
    """

    start: int
    end: int
    rank: int
    code: _Code | None = None


@attrs.frozen
class _Code:
    """A code or pre entity in code points [start, end) and its UTF-16 size."""

    start: int
    end: int
    size: int


@attrs.frozen
class _Boundaries:
    """Where a text may be cut, sorted by position, with the start positions for bisecting."""

    gaps: list[_Gap]
    gap_starts: list[int]
    code: list[_Code]
    code_starts: list[int]


def split_rendered(rendered: RenderedText, limit: int = MESSAGE_LIMIT) -> list[RenderedText]:
    """`rendered` cut into chunks of at most `limit` UTF-16 code units each.

    Raises ValueError when `limit` is below `MIN_LIMIT`.
    """
    return list(_chunks(rendered, _check(limit), limit))


def split_caption(rendered: RenderedText) -> tuple[RenderedText, list[RenderedText]]:
    """A media caption (at most `CAPTION_LIMIT`) and the messages that carry the rest.

    The caption is the first chunk cut at the caption limit (empty text for
    a blank `rendered`); the rest is cut at `MESSAGE_LIMIT`.
    """
    chunks = _chunks(rendered, CAPTION_LIMIT, MESSAGE_LIMIT)
    return next(chunks, RenderedText("")), list(chunks)


def plain_chunks(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` without formatting, cut by the same rules as `split_rendered`.

    Surrogates are cleaned as `utf16.valid_utf16` does. Raises ValueError
    when `limit` is below `MIN_LIMIT`.
    """
    return [chunk.text for chunk in split_rendered(RenderedText(valid_utf16(text)), limit)]


def _check(limit: int) -> int:
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT} UTF-16 code units, got {limit}")
    return limit


def _chunks(rendered: RenderedText, first_limit: int, limit: int) -> Iterator[RenderedText]:
    """The chunks of `rendered`, the first cut at `first_limit`, the others at `limit`."""
    text = rendered.text
    offsets = utf16_offsets(text)
    code = _code_regions(rendered.entities, offsets)
    gaps = _gaps(text, code)
    boundaries = _Boundaries(
        gaps, [gap.start for gap in gaps], code, [region.start for region in code]
    )
    start, current = 0, first_limit
    while start < len(text):
        reach = bisect.bisect_right(offsets, offsets[start] + current) - 1
        if reach == len(text):
            end = next_start = reach
        else:
            end, next_start = _cut(start, reach, current, boundaries)
        piece = _piece(rendered, offsets, start, end)
        if piece.text.strip():
            yield piece
            current = limit
        start = next_start


def _code_regions(entities: tuple[Entity, ...], offsets: list[int]) -> list[_Code]:
    """The code and pre entities in code points, sorted, the outer one of a nested pair only."""
    regions: list[_Code] = []
    for entity in sorted(entities, key=lambda e: (e.offset, -e.length)):
        if entity.type in ("code", "pre") and not (
            regions and entity.offset < offsets[regions[-1].end]
        ):
            start = bisect.bisect_left(offsets, entity.offset)
            regions.append(_Code(start, bisect.bisect_left(offsets, entity.end), entity.length))
    return regions


def _gaps(text: str, code: list[_Code]) -> list[_Gap]:
    """Every boundary of `text`, sorted: whitespace runs outside code, line breaks inside."""
    gaps: list[_Gap] = []
    outside = 0
    for region in [*code, _Code(len(text), len(text), 0)]:
        for run in _WHITESPACE_RUN.finditer(text, outside, region.start):
            breaks = run.group().count("\n")
            rank = _PARAGRAPH if breaks >= 2 else _LINE if breaks == 1 else _WORD
            gaps.append(_Gap(run.start(), run.end(), rank))
        gaps.extend(
            _Gap(found.start(), found.end(), _LINE, region)
            for found in _LINE_BREAK.finditer(text, region.start, region.end)
        )
        outside = region.end
    return gaps


def _cut(start: int, reach: int, limit: int, boundaries: _Boundaries) -> tuple[int, int]:
    """Where the chunk from `start` ends and the next one starts.

    `reach` is the furthest end that fits; the text goes on beyond it.
    """
    gaps, gap_starts = boundaries.gaps, boundaries.gap_starts
    code, code_starts = boundaries.code, boundaries.code_starts
    first = bisect.bisect_right(gap_starts, start)
    last = bisect.bisect_right(gap_starts, reach)
    best: _Gap | None = None
    for gap in reversed(gaps[first:last]):
        if gap.code is not None and gap.code.size <= limit:
            continue
        if best is None or gap.rank < best.rank:
            best = gap
        if best.rank == _PARAGRAPH:
            break
    if best is not None:
        return best.start, best.end
    index = bisect.bisect_left(code_starts, reach) - 1  # the last region starting before reach
    if index >= 0:
        region = code[index]
        if start < region.start and reach < region.end and region.size <= limit:
            return region.start, region.start  # code that fits moves whole to the next chunk
    return reach, reach


def _piece(rendered: RenderedText, offsets: list[int], start: int, end: int) -> RenderedText:
    """Code points [start, end) of `rendered`, with its entities clipped and rebased."""
    low, high = offsets[start], offsets[end]
    entities = tuple(
        attrs.evolve(
            entity,
            offset=max(entity.offset, low) - low,
            length=min(entity.end, high) - max(entity.offset, low),
        )
        for entity in rendered.entities
        if entity.offset < high and entity.end > low
    )
    return RenderedText(rendered.text[start:end], entities)
