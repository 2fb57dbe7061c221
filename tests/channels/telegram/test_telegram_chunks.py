"""Splitting rendered text at 4096 UTF-16 code units: boundaries, code blocks, entities, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.channels.telegram.chunks import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    plain_chunks,
    split_caption,
    split_rendered,
)
from autobot.channels.telegram.render import (
    Entity,
    RenderedText,
    render_markdown,
    utf16_len,
    utf16_offsets,
)
from autobot.channels.utf16 import valid_utf16

from .entity_rules import violations
from .samples import FAMILY, markdown_text


def texts(chunks: list[RenderedText]) -> list[str]:
    return [chunk.text for chunk in chunks]


def positions(text: str, chunks: list[str]) -> list[int]:
    """Where each chunk starts in `text`, asserting that only whitespace lies between them."""
    found, cursor = [], 0
    for chunk in chunks:
        start = text.find(chunk, cursor)
        assert start >= 0, f"chunk {chunk[:40]!r} is not in the text after index {cursor}"
        assert text[cursor:start].strip() == "", f"non-whitespace dropped: {text[cursor:start]!r}"
        found.append(start)
        cursor = start + len(chunk)
    assert text[cursor:].strip() == ""
    return found


def check_split(rendered: RenderedText, chunks: list[RenderedText], limit: int) -> None:
    """Every property a split must have."""
    starts = positions(rendered.text, texts(chunks))
    offsets = utf16_offsets(rendered.text)
    for chunk, start in zip(chunks, starts, strict=True):
        assert 0 < utf16_len(chunk.text) <= limit
        assert chunk.text.strip()
        assert re.search("[\ud800-\udfff]", chunk.text) is None
        assert violations(chunk) == []
        low, high = offsets[start], offsets[start + len(chunk.text)]
        expected = {
            (
                e.type,
                max(e.offset, low) - low,
                min(e.end, high) - max(e.offset, low),
                e.url,
                e.language,
            )
            for e in rendered.entities
            if e.offset < high and e.end > low
        }
        assert {(e.type, e.offset, e.length, e.url, e.language) for e in chunk.entities} == expected
    for entity in rendered.entities:
        if entity.type in ("code", "pre") and entity.length <= limit:
            holders = [
                start
                for start, chunk in zip(starts, chunks, strict=True)
                if offsets[start] <= entity.offset
                and entity.end <= offsets[start + len(chunk.text)]
            ]
            assert len(holders) == 1, f"{entity} fits in {limit} but was cut"


# --- boundaries, best first ---------------------------------------------------


def test_text_within_the_limit_is_one_chunk() -> None:
    rendered = render_markdown("**hello** world")
    assert split_rendered(rendered) == [rendered]
    exact = RenderedText("😀" * 2048)
    assert split_rendered(exact) == [exact]


def test_paragraph_boundary_wins_over_later_lines_and_words() -> None:
    first = "one two\nthree four"
    second = "five six\nseven eight"
    chunks = split_rendered(RenderedText(f"{first}\n\n{second}"), limit=30)
    assert texts(chunks) == [first, second]


def test_line_boundary_wins_over_later_words() -> None:
    chunks = split_rendered(RenderedText("alpha beta\ngamma delta epsilon"), limit=20)
    assert texts(chunks) == ["alpha beta", "gamma delta epsilon"]


def test_word_boundary_wins_over_a_hard_cut() -> None:
    chunks = split_rendered(RenderedText("alpha beta gamma delta"), limit=13)
    assert texts(chunks) == ["alpha beta", "gamma delta"]


def test_no_break_spaces_are_not_word_boundaries() -> None:
    chunks = split_rendered(RenderedText("ab cd\xa0ef"), limit=6)
    assert texts(chunks) == ["ab", "cd\xa0ef"]


def test_a_10000_character_word_is_cut_hard_at_the_limit() -> None:
    word = "x" * 10_000
    chunks = plain_chunks(word)
    assert [len(chunk) for chunk in chunks] == [4096, 4096, 1808]
    assert "".join(chunks) == word


def test_hard_cuts_never_split_a_surrogate_pair() -> None:
    text = "a" + "😀" * 2048  # 4097 units: the last emoji cannot join the first chunk
    assert plain_chunks(text) == ["a" + "😀" * 2047, "😀"]
    assert plain_chunks("😀" * 7, limit=5) == ["😀😀", "😀😀", "😀😀", "😀"]
    assert plain_chunks("😀", limit=2) == ["😀"]


def test_zwj_sequences_are_cut_only_between_code_points() -> None:
    text = FAMILY * 1000  # 8000 units, no boundary anywhere
    chunks = plain_chunks(text)
    assert [utf16_len(chunk) for chunk in chunks] == [4096, 3904]
    assert "".join(chunks) == text


def test_cjk_without_spaces_is_cut_hard() -> None:
    text = "中文" * 2500
    assert [len(chunk) for chunk in plain_chunks(text)] == [4096, 904]


def test_whitespace_at_a_cut_is_dropped_and_blank_text_gives_no_chunk() -> None:
    assert plain_chunks("aaaa   \n\n  bbbb", limit=5) == ["aaaa", "bbbb"]
    assert split_rendered(RenderedText("")) == []
    assert plain_chunks(" \n\n \t") == []


# --- code ----------------------------------------------------------------------


def fenced(code: str, language: str = "py") -> str:
    return f"```{language}\n{code}\n```"


def test_code_block_at_exactly_the_limit_is_kept_whole() -> None:
    code = "\n".join(["x" * 99] * 40) + "\n" + "y" * 96  # 3999 + 1 + 96 = 4096 units
    rendered = render_markdown(f"Here it is:\n\n{fenced(code)}\n\nDone.")
    chunks = split_rendered(rendered)
    assert chunks == [
        RenderedText("Here it is:"),
        RenderedText(code, (Entity("pre", 0, 4096, language="py"),)),
        RenderedText("Done."),
    ]


def test_code_block_one_unit_over_the_limit_is_cut_at_its_lines() -> None:
    lines = ["x" * 99] * 40 + ["y" * 97]  # 4097 units
    rendered = render_markdown(fenced("\n".join(lines)))
    chunks = split_rendered(rendered)
    first = "\n".join(lines[:40])
    assert chunks == [
        RenderedText(first, (Entity("pre", 0, 3999, language="py"),)),
        RenderedText("y" * 97, (Entity("pre", 0, 97, language="py"),)),
    ]


def test_code_block_that_fits_is_moved_whole_to_the_next_chunk() -> None:
    code = "\n".join(f"line {i:04}" for i in range(340))  # 3399 units
    rendered = render_markdown("word " * 200 + "\n\n" + fenced(code))
    chunks = split_rendered(rendered)
    assert texts(chunks) == [("word " * 200).strip(), code]
    assert chunks[1].entities == (Entity("pre", 0, 3399, language="py"),)


def test_long_code_block_becomes_one_pre_per_chunk() -> None:
    lines = [f"print({i})  # {'.' * 40}" for i in range(400)]
    code = "\n".join(lines)  # 21,889 units: six chunks of whole lines
    rendered = render_markdown("Intro\n\n" + fenced(code, "python"))
    chunks = split_rendered(rendered)
    assert len(chunks) == 7
    assert chunks[0] == RenderedText("Intro")
    for chunk in chunks[1:]:
        assert chunk.entities == (Entity("pre", 0, utf16_len(chunk.text), language="python"),)
        assert set(chunk.text.split("\n")) <= set(lines)
    assert "\n".join(texts(chunks[1:])) == code
    check_split(rendered, chunks, MESSAGE_LIMIT)


def test_code_that_fits_is_not_cut_at_its_own_lines() -> None:
    code = "\n".join(["c" * 9] * 5)  # 49 units
    rendered = render_markdown("- intro\n  ```\n  " + code.replace("\n", "\n  ") + "\n  ```")
    assert rendered == RenderedText(f"• intro\n{code}", (Entity("pre", 8, 49),))
    assert split_rendered(rendered, limit=50) == [
        RenderedText("• intro"),
        RenderedText(code, (Entity("pre", 0, 49),)),
    ]


def test_code_that_fits_moves_whole_even_without_a_boundary_before_it() -> None:
    rendered = render_markdown("abc`defgh`ij")
    assert texts(split_rendered(rendered, limit=6)) == ["abc", "defghi", "j"]


def test_a_code_line_longer_than_the_limit_is_cut_hard() -> None:
    rendered = render_markdown(fenced("a = '" + "z" * 5000 + "'"))
    chunks = split_rendered(rendered)
    assert [utf16_len(chunk.text) for chunk in chunks] == [4096, 910]
    assert [chunk.entities for chunk in chunks] == [
        (Entity("pre", 0, 4096, language="py"),),
        (Entity("pre", 0, 910, language="py"),),
    ]


def test_spaces_inside_code_are_never_cut_or_dropped() -> None:
    rendered = render_markdown("`a b c d e f` tail")
    assert texts(split_rendered(rendered, limit=12)) == ["a b c d e f", "tail"]
    assert texts(split_rendered(rendered, limit=8)) == ["a b c d ", "e f tail"]


# --- entities across cuts ------------------------------------------------------


def test_an_entity_crossing_a_cut_is_split_and_rebased() -> None:
    rendered = render_markdown("intro **bold words across** end 😀 [link](https://a.example)")
    chunks = split_rendered(rendered, limit=14)
    assert chunks == [
        RenderedText("intro bold", (Entity("bold", 6, 4),)),
        RenderedText("words across", (Entity("bold", 0, 12),)),
        RenderedText("end 😀 link", (Entity("text_link", 7, 4, url="https://a.example"),)),
    ]


def test_a_blockquote_crossing_a_cut_becomes_two() -> None:
    rendered = render_markdown("> first line\n> second line\n\nafter")
    chunks = split_rendered(rendered, limit=12)
    assert chunks == [
        RenderedText("first line", (Entity("blockquote", 0, 10),)),
        RenderedText("second line", (Entity("blockquote", 0, 11),)),
        RenderedText("after"),
    ]


# --- captions and the plain fallback -------------------------------------------


def test_caption_takes_1024_units_and_the_rest_goes_to_messages() -> None:
    rendered = render_markdown("**" + ("word " * 1200).strip() + "**")
    caption, rest = split_caption(rendered)
    assert utf16_len(caption.text) <= CAPTION_LIMIT
    assert utf16_len(caption.text) > CAPTION_LIMIT - 5
    assert caption.entities == (Entity("bold", 0, utf16_len(caption.text)),)
    assert [utf16_len(chunk.text) <= MESSAGE_LIMIT for chunk in rest] == [True, True]
    check_split(rendered, [caption, *rest], MESSAGE_LIMIT)


def test_short_and_blank_captions() -> None:
    short = render_markdown("a *photo*")
    assert split_caption(short) == (short, [])
    assert split_caption(RenderedText("")) == (RenderedText(""), [])


def test_plain_chunks_clean_surrogates() -> None:
    assert plain_chunks("a\ud800b \ud83d\ude00") == ["a\ufffdb 😀"]


@pytest.mark.parametrize("limit", [1, 0, -5])
def test_a_limit_below_two_units_is_refused(limit: int) -> None:
    message = f"limit must be at least 2 UTF-16 code units, got {limit}"
    with pytest.raises(ValueError, match=message):
        split_rendered(RenderedText("abc"), limit)
    with pytest.raises(ValueError, match=message):
        plain_chunks("abc", limit)


# --- properties ------------------------------------------------------------------


@settings(max_examples=300)
@given(markdown_text, st.integers(min_value=2, max_value=80))
def test_split_rendered_properties(markdown: str, limit: int) -> None:
    rendered = render_markdown(markdown)
    check_split(rendered, split_rendered(rendered, limit), limit)


@settings(max_examples=300)
@given(st.text(), st.integers(min_value=2, max_value=40))
def test_plain_chunks_properties(text: str, limit: int) -> None:
    chunks = plain_chunks(text, limit)
    check_split(RenderedText(valid_utf16(text)), [RenderedText(chunk) for chunk in chunks], limit)


@given(markdown_text)
def test_caption_split_properties(markdown: str) -> None:
    rendered = render_markdown(markdown * 40)
    caption, rest = split_caption(rendered)
    assert utf16_len(caption.text) <= CAPTION_LIMIT
    chunks = [caption, *rest] if caption.text else rest
    check_split(rendered, chunks, MESSAGE_LIMIT)
