"""Replies as Zulip messages: nobody pinged, fences balanced, chunks within the limit."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.zulip.render import (
    MIN_LIMIT,
    ZERO_WIDTH_SPACE,
    fence_states,
    neutralise_mentions,
    prepare_reply,
    split_message,
)

# Zulip's own mention patterns (zerver/lib/mention.py): users and wildcards
# `@**name**`, user groups `@*name*`, both with a silent `_` form.
USER_MENTION = re.compile(r"(?<![^\s'\"\(\{\[/<])@(_?)(\*\*([^\*]+)\*\*)")
GROUP_MENTION = re.compile(r"(?<![^\s'\"\(\{\[/<])@(_?)(\*([^\*]+)\*)")
FENCE_TOKEN = re.compile(r"^[`~]{3,}\S*$")


def pings(text: str) -> list[str]:
    return [m.group(0) for m in (*USER_MENTION.finditer(text), *GROUP_MENTION.finditer(text))]


def balanced(chunk: str) -> bool:
    """Zulip's reading of `chunk` ends outside every fenced block."""
    return fence_states(chunk.split("\n"))[-1] == ()


@pytest.mark.parametrize(
    "mention",
    [
        "@**all**",
        "@**everyone**",
        "@**stream**",
        "@**channel**",
        "@**topic**",
        "@_**all**",
        "@**Alice**",
        "@**Alice|12**",
        "@_**Alice|12**",
        "@*backend team*",
        "@_*backend team*",
    ],
)
def test_every_mention_syntax_is_neutralised(mention: str) -> None:
    text = f"Hello {mention}, and (@**all**) and\n{mention}"
    assert pings(text)
    neutralised = neutralise_mentions(text)
    assert pings(neutralised) == []
    assert neutralised.replace(ZERO_WIDTH_SPACE, "") == text


def test_text_without_mentions_is_unchanged() -> None:
    for text in ("mail me at a@b.com", "@alice hi", "**bold** and *it*", "2 * 3 @ 4"):
        assert neutralise_mentions(text) == text


def test_nul_is_dropped_and_lone_surrogates_replaced() -> None:
    assert prepare_reply("a\x00b \ud800 c", 100) == ["ab \ufffd c"]


def test_line_breaks_and_tabs_are_read_as_zulip_reads_them() -> None:
    code = "\r\n".join(f"line {i}" for i in range(40))
    chunks = prepare_reply(f"```\tpython\r\n{code}\r\n```", 100)
    assert len(chunks) > 2 and all(balanced(chunk) for chunk in chunks)
    assert all(chunk.startswith("```\tpython\n") and "\r" not in chunk for chunk in chunks)


def test_blank_text_gives_no_message() -> None:
    assert prepare_reply("", 100) == []
    assert prepare_reply(" \n\n \t", 100) == []


def test_short_text_is_one_message_as_written() -> None:
    text = "# Title\n\n- one\n- two\n\n```python\nprint(1)\n```"
    assert split_message(text, 10_000) == [text]


def test_a_limit_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        split_message("text", MIN_LIMIT - 1)


def test_paragraphs_are_preferred_to_lines() -> None:
    first = "alpha " * 10
    text = f"{first.strip()}\n\nline one\nline two\nline three"
    chunks = split_message(text, 70)
    assert chunks[0] == first.strip()
    assert all(len(chunk) <= 70 for chunk in chunks)


def test_a_long_line_is_cut_at_spaces_then_hard() -> None:
    words = " ".join(f"word{i}" for i in range(40))
    chunks = split_message(words, 50)
    assert all(len(chunk) <= 50 for chunk in chunks)
    assert " ".join(chunks).split() == words.split()
    solid = "x" * 120
    assert split_message(solid, 50) == ["x" * 50, "x" * 50, "x" * 20]


def test_a_long_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"value_{i} = {i}" for i in range(40))
    text = f"Here:\n\n```python\n{code}\n```\n\nDone."
    chunks = split_message(text, 120)
    assert len(chunks) > 3
    assert all(len(chunk) <= 120 and balanced(chunk) for chunk in chunks)
    inner = [c for c in chunks if "value_" in c]
    assert all(c.startswith("```python\n") for c in inner)
    assert all(c.endswith("\n```") for c in inner[:-1])
    carried = [line for c in inner for line in c.split("\n") if line.startswith("value_")]
    assert carried == code.split("\n")
    assert chunks[-1].endswith("Done.")


def test_nested_quote_and_code_fences_are_reopened_in_order() -> None:
    body = "\n".join(f"line {i}" for i in range(30))
    text = f"````quote\nsome words\n```\n{body}\n```\n````"
    chunks = split_message(text, 100)
    assert all(len(chunk) <= 100 and balanced(chunk) for chunk in chunks)
    middle = next(c for c in chunks[1:] if "line 1" in c)
    assert middle.startswith("````quote\n```\n") and middle.endswith("\n```\n````")


def test_a_closing_fence_must_match_exactly() -> None:
    # ```` does not close ``` in Zulip: the block goes on to the end
    assert fence_states(["```", "a", "````", "b"])[-1] != ()
    assert fence_states(["```", "a", "```  ", "b"])[-1] == ()
    # an indented fence is no fence; a fence inside code opens nothing
    assert fence_states(["  ```", "x"])[-1] == ()
    assert len(fence_states(["```", "~~~", "```"])[2]) == 1


def test_absurd_fences_never_break_the_limit() -> None:
    text = "`" * 40 + "\n" + "x\n" * 200
    chunks = split_message(text, 64)
    assert chunks and all(len(chunk) <= 64 for chunk in chunks)


PLAIN = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=80).filter(
    lambda line: not line.startswith(("`", "~"))
)
TEXT_LINE = st.one_of(
    PLAIN, st.just(""), st.sampled_from(["@**all**", "x @**Bob|3** y", "(@_*team*)"])
)


def code_block(lines: list[str], fence: str, lang: str) -> list[str]:
    return [fence + lang, *lines, fence]


CODE = st.builds(
    code_block,
    st.lists(PLAIN | st.just(""), max_size=30),
    st.sampled_from(["```", "~~~~"]),
    st.sampled_from(["", "python", " js"]),
)


def nested(blocks: list[list[str]], kind: str) -> list[str]:
    opener, closer = {"quote": ("````quote", "````"), "spoiler": ("~~~spoiler Title", "~~~")}[kind]
    return [opener, *(line for block in blocks for line in block), closer]


BLOCK = st.recursive(
    st.lists(TEXT_LINE, min_size=1, max_size=8) | CODE,
    lambda inner: st.builds(
        nested, st.lists(inner, min_size=1, max_size=3), st.sampled_from(["quote", "spoiler"])
    ),
    max_leaves=6,
)


@given(text=st.text(max_size=3000), limit=st.integers(min_value=MIN_LIMIT, max_value=600))
def test_arbitrary_text_fits_and_pings_nobody(text: str, limit: int) -> None:
    chunks = prepare_reply(text, limit)
    for chunk in chunks:
        assert 0 < len(chunk) <= limit
        assert chunk.strip()
        assert pings(chunk) == []
        assert re.search(r"@_?\*", chunk) is None


@given(
    blocks=st.lists(BLOCK, max_size=8),
    cut_off=st.integers(min_value=0, max_value=3),
    limit=st.integers(min_value=160, max_value=600),
)
def test_markdown_chunks_are_balanced_and_keep_every_word(
    blocks: list[list[str]], cut_off: int, limit: int
) -> None:
    lines = [line for block in blocks for line in block]
    text = "\n".join(lines[: len(lines) - cut_off])  # its last blocks may be left open
    chunks = prepare_reply(text, limit)
    assert all(len(chunk) <= limit and balanced(chunk) for chunk in chunks)
    assert all(pings(chunk) == [] for chunk in chunks)

    def words(value: str) -> list[str]:
        return [w for w in value.split() if not FENCE_TOKEN.match(w) and w != "Title"]

    assert words("\n".join(chunks)) == words(neutralise_mentions(text).replace("\x00", ""))
