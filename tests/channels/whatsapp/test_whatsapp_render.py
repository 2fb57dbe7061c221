"""The model's Markdown as WhatsApp markup, and its cutting into messages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from autobot.channels.whatsapp.protocol import utf16_units
from autobot.channels.whatsapp.render import MIN_LIMIT, WORD_JOINER, whatsapp_chunks

WJ = WORD_JOINER
WORDS = re.compile(r"[^\W_]+")


def render(markdown: str) -> str:
    """The whole rendering, in one message."""
    chunks = whatsapp_chunks(markdown, 10**9)
    assert len(chunks) <= 1
    return chunks[0] if chunks else ""


# ---- inline styles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("**bold**", "*bold*"),
        ("__bold__", "*bold*"),
        ("*italic*", "_italic_"),
        ("_italic_", "_italic_"),
        ("~~gone~~", "~gone~"),
        ("`code`", "`code`"),
        ("***both***", "*_both_*"),
        ("**bold _and italic_ then**", "*bold _and italic_ then*"),
        ("a **b** c", "a *b* c"),
        ("(**b**), **c**.", "(*b*), *c*."),
    ],
)
def test_inline_styles_become_whatsapp_markers(markdown: str, text: str) -> None:
    assert render(markdown) == text


def test_markers_that_would_touch_a_word_are_left_out() -> None:
    # WhatsApp reads no marker inside a word: the text stays, unformatted.
    assert render("un**believ**able and x`y`z") == "unbelievable and xyz"


def test_code_inside_bold_keeps_both() -> None:
    assert render("**run `ls` now**") == "*run `ls` now*"


def test_inline_code_holding_a_backtick_uses_three() -> None:
    assert render("`` a`b ``") == "```a`b```"
    assert render("`` `a ``") == f"```{WJ}`a```"


def test_code_content_is_never_marked_up_or_escaped() -> None:
    assert render("`*x* _y_`") == "`*x* _y_`"


def test_a_span_across_a_line_break_is_closed_and_reopened() -> None:
    assert render("**one\ntwo**") == "*one*\n*two*"
    assert render("*a  \nb*") == "_a_\n_b_"


def test_unbalanced_markers_stay_text() -> None:
    assert render("a ** b") == "a ** b"
    assert render("~~open") == "~~open"
    assert render("**") == "**"
    assert render("a ~~ b") == "a ~~ b"


# ---- literal marker characters ------------------------------------------------------------


def test_literal_markers_that_could_format_get_word_joiners() -> None:
    assert render(r"\*not bold\*") == f"{WJ}*{WJ}not bold{WJ}*{WJ}"
    assert render(r"\_x\_ and \~y\~") == f"{WJ}_{WJ}x{WJ}_{WJ} and {WJ}~{WJ}y{WJ}~{WJ}"
    assert render("cd ~/src and ~/bin~ now") == f"cd {WJ}~{WJ}/src and {WJ}~{WJ}/bin{WJ}~{WJ} now"


def test_a_literal_marker_that_could_pair_with_a_span_marker_is_neutralized() -> None:
    # WhatsApp could pair the literal `~` with the closing `~` written for the span.
    assert render("~/x ~~y~~") == f"{WJ}~{WJ}/x ~y~"


@pytest.mark.parametrize(
    "text", ["2 * 3 = 6", "2*3", "snake_case_name", "a ~ b", "cp ~/.bashrc /tmp/", "a ** b"]
)
def test_literal_markers_that_cannot_format_are_left_alone(text: str) -> None:
    assert render(text) == text


def test_a_span_next_to_a_literal_marker_is_written_without_markers() -> None:
    # `**b*` would be misread; the text stays, unformatted.
    assert render(r"\***b**") == "*b"
    assert render(r"**b**\*") == "b*"


# ---- links and images ---------------------------------------------------------------------


def test_links_show_their_label_and_url() -> None:
    assert render("[the docs](https://example.com/a)") == "the docs (https://example.com/a)"


def test_a_link_whose_label_is_its_url_shows_the_url_once() -> None:
    assert render("<https://example.com>") == "https://example.com"
    assert render("[https://x.io](https://x.io)") == "https://x.io"
    assert render("<me@example.com>") == "mailto:me@example.com"


def test_urls_are_written_as_they_are() -> None:
    assert render("[x](https://e.com/_a_/*b*)") == "x (https://e.com/_a_/*b*)"


def test_a_styled_label_keeps_its_style_and_the_url_stays_outside() -> None:
    assert render("**[docs](https://e.com)**") == "*docs* (https://e.com)"


def test_images_show_their_alt_text_and_url() -> None:
    assert render("![a cat](https://e.com/cat.png)") == "a cat (https://e.com/cat.png)"
    assert render("![](https://e.com/cat.png)") == "https://e.com/cat.png"


# ---- blocks -------------------------------------------------------------------------------


def test_headings_become_bold_lines() -> None:
    assert render("# Title\n\n## With *style*\n\ntext") == "*Title*\n\n*With _style_*\n\ntext"


def test_fenced_code_is_verbatim_in_a_block() -> None:
    markdown = "```python\ndef f(*args, **kw):\n    return _x_\n```"
    assert render(markdown) == "```\ndef f(*args, **kw):\n    return _x_\n```"


def test_indented_code_is_a_block_too() -> None:
    assert render("para\n\n    a = *b*\n    c") == "para\n\n```\na = *b*\nc\n```"


def test_three_backticks_inside_code_cannot_end_the_block() -> None:
    assert render("````\na ``` b\n````") == f"```\na ``{WJ}` b\n```"


def test_block_quotes_become_quote_lines() -> None:
    assert render("> one **b**\n> two\n\nafter") == "> one *b*\n> two\n\nafter"
    assert render("> > deep") == "> > deep"


def test_lists_keep_their_markers_and_numbers() -> None:
    markdown = "intro\n\n- a\n- b\n  - c\n\n3. x\n4. y"
    assert render(markdown) == "intro\n\n- a\n- b\n  - c\n\n3. x\n4. y"


def test_tables_become_lines_of_cells() -> None:
    markdown = "| name | *n* |\n|------|-----|\n| a | 1 |\n| b | `2` |"
    assert render(markdown) == "*name* | *_n_*\na | 1\nb | `2`"


def test_html_and_entities_are_shown_as_written() -> None:
    assert render("<b>hi</b> &amp; <script>x</script>") == "<b>hi</b> &amp; <script>x</script>"


def test_thematic_break() -> None:
    assert render("a\n\n---\n\nb") == "a\n\n———\n\nb"


def test_nesting_deeper_than_the_parser_follows_is_sent_as_text() -> None:
    markdown = "> " * 40 + "deep **word**"
    assert render(markdown) == markdown.replace("**", f"{WJ}*{WJ}{WJ}*{WJ}")


@pytest.mark.parametrize("blank", ["", "  ", "\n\n \n", "```\n```", "> ", "- "])
def test_blank_markdown_gives_no_message(blank: str) -> None:
    assert whatsapp_chunks(blank, 4096) == []


def test_surrogates_are_paired_or_replaced() -> None:
    assert render("a\ud83d\ude00 \ud800b") == "a\U0001f600 \ufffdb"


# ---- cutting ------------------------------------------------------------------------------


def test_short_replies_are_one_message() -> None:
    assert whatsapp_chunks("**hi** there", 64) == ["*hi* there"]


def test_a_cut_bold_span_is_closed_and_reopened() -> None:
    words = " ".join(f"word{index}" for index in range(40))
    chunks = whatsapp_chunks(f"**{words}**", 64)
    assert len(chunks) > 1
    for chunk in chunks:
        assert utf16_units(chunk) <= 64
        assert chunk.startswith("*") and chunk.endswith("*") and chunk.count("*") == 2
    assert " ".join(chunk.strip("*") for chunk in chunks) == words


def test_a_cut_code_block_is_fenced_in_every_message() -> None:
    lines = [f"print({index})  # *not* _styled_" for index in range(30)]
    chunks = whatsapp_chunks("```\n" + "\n".join(lines) + "\n```", 200)
    assert len(chunks) > 1
    for chunk in chunks:
        assert utf16_units(chunk) <= 200
        assert chunk.startswith("```\n") and chunk.endswith("\n```")
        assert chunk.count("```") == 2
    assert [line for chunk in chunks for line in chunk[4:-4].split("\n")] == lines


def test_a_code_line_longer_than_a_message_is_cut_hard() -> None:
    chunks = whatsapp_chunks("```\n" + "x" * 100 + "\n```", 40)
    assert chunks == ["```\n" + "x" * 32 + "\n```"] * 3 + ["```\n" + "x" * 4 + "\n```"]


def test_cuts_prefer_paragraphs_then_lines_then_spaces() -> None:
    first, second = "a" * 30, "b" * 30
    assert whatsapp_chunks(f"{first}\n\n{second}", 64) == [f"{first}\n\n{second}"]
    assert whatsapp_chunks(f"{first}\n\n{second}\n\nc", 64) == [f"{first}\n\n{second}", "c"]
    assert whatsapp_chunks(f"{first} x\n{second} y", 40) == [f"{first} x", f"{second} y"]
    assert whatsapp_chunks(f"{first} {second}", 40) == [first, second]


def test_a_word_longer_than_a_message_is_cut_hard() -> None:
    assert whatsapp_chunks("y" * 70, 32) == ["y" * 32, "y" * 32, "y" * 6]


def test_a_cut_quote_line_keeps_its_quote_mark() -> None:
    chunks = whatsapp_chunks("> " + " ".join(["word"] * 20), 40)
    assert len(chunks) > 1
    assert all(chunk.startswith("> word") for chunk in chunks)


def test_limits_count_utf16_units() -> None:
    chunks = whatsapp_chunks("\U0001f600" * 40, 32)
    assert chunks == ["\U0001f600" * 16, "\U0001f600" * 16, "\U0001f600" * 8]


def test_a_limit_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        whatsapp_chunks("text", MIN_LIMIT - 1)


# ---- properties ---------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(
    [
        "**", "*", "__", "_", "~~", "~", "`", "```", "\n", "\n\n", " ", "  ", "# ", "> ", "- ",
        "1. ", "    ", "[", "](", ")", "![", "<", ">", "\\", "|", "|---|", "---", "&amp;",
        "<b>", "https://e.com/a_b", "\U0001f600", "é", "\t",
    ]
)  # fmt: skip
_WORD = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)
_MARKDOWN = st.lists(st.one_of(_FRAGMENTS, _WORD), max_size=80).map("".join)
_PARSER = MarkdownIt("commonmark").enable(["strikethrough", "table"])


def _words(text: str) -> set[str]:
    return set(WORDS.findall(text))


def _assert_words_survive(markdown: str, written: str) -> None:
    """Every word of `markdown` is in `written` (words the markup around
    them fused, as in `un**believ**able`, are found inside the longer word)."""
    text = written.replace(WJ, "")
    missing = {word for word in _words(markdown) - _metadata_words(markdown) if word not in text}
    assert not missing


def _metadata_words(markdown: str) -> set[str]:
    """Words that are markup, not text: fences' info strings (a language tag
    is not shown) and the numbers of ordered list items (an empty item is
    not shown; the others are, renumbered from the list's start)."""
    return {
        word
        for token in _PARSER.parse(markdown)
        if token.type in ("fence", "list_item_open")
        for word in _words(token.info)
    }


@settings(max_examples=400, deadline=None)
@given(_MARKDOWN, st.integers(min_value=MIN_LIMIT, max_value=200))
def test_every_plain_word_survives_and_every_message_fits(markdown: str, limit: int) -> None:
    chunks = whatsapp_chunks(markdown, limit)
    assert all(chunk.strip() and utf16_units(chunk) <= limit for chunk in chunks)
    _assert_words_survive(markdown, " ".join(whatsapp_chunks(markdown, 10**9)))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=MIN_LIMIT, max_value=300))
def test_any_text_gives_messages_that_fit(text: str, limit: int) -> None:
    chunks = whatsapp_chunks(text, limit)
    assert all(chunk.strip() and utf16_units(chunk) <= limit for chunk in chunks)


@pytest.mark.parametrize(
    "markdown",
    [
        "> " * 500 + "x",
        "- " * 500 + "x",
        "*" * 5000 + "x" + "*" * 5000,
        "[" * 3000 + "x" + "](u)" * 3000,
        "**a " * 2000,
    ],
)
def test_pathological_input_still_gives_text(markdown: str) -> None:
    chunks = whatsapp_chunks(markdown, 4096)
    assert all(utf16_units(chunk) <= 4096 for chunk in chunks)
    _assert_words_survive(markdown, " ".join(chunks))
