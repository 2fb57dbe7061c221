"""Markdown to Slack mrkdwn: formatting, escaping that no model output can get
past (Hypothesis over arbitrary text), and splitting at 4,000 characters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.channels.slack.mrkdwn import (
    MESSAGE_LIMIT,
    MIN_LIMIT,
    Block,
    escape,
    plain_blocks,
    render_chunks,
    render_mrkdwn,
    slack_link,
    split_blocks,
)

# A `<` may only open a link this renderer wrote: http(s) or mailto, no markup inside.
OUR_LINK = re.compile(r"<(?:https?://|mailto:)[^<>|\s]*(?:\|[^<>]*)?>")
ESCAPE = re.compile(r"&(?:amp|lt|gt);")
PINGS = ("<!", "<@", "<#")
DANGEROUS = "<>&!@#|*_~`[]()\\\n hCUW:/.-=01"


def assert_safe(chunks: list[str]) -> None:
    """Nothing in `chunks` can ping, link or inject markup the renderer did not write."""
    for chunk in chunks:
        assert not any(ping in chunk for ping in PINGS), chunk
        outside_links = OUR_LINK.sub("", chunk)
        assert "<" not in outside_links and ">" not in _without_quote_markers(outside_links)
        assert all(ESCAPE.match(chunk, m.start()) for m in re.finditer("&", chunk)), chunk


def _without_quote_markers(text: str) -> str:
    """`text` without the `> ` block-quote markers the renderer writes at line starts."""
    return re.sub(r"(?m)^(?:> )+", "", text)


def test_pings_written_by_the_model_arrive_escaped() -> None:
    assert render_chunks("<!channel> <@U123> <#C1|x> & stuff") == [
        "&lt;!channel&gt; &lt;@U123&gt; &lt;#C1|x&gt; &amp; stuff"
    ]


@pytest.mark.parametrize(
    "markdown",
    [
        "<!here>",
        "<!everyone|everyone>",
        "`<!channel>`",
        "```\n<@U123> <!subteam^S1>\n```",
        "**<!channel>**",
        "[<!channel>](https://example.com)",
        "[x](https://example.com/<!channel>)",
        "[x](https://example.com|<!channel>)",
        "<https://evil.example|click>",
        "&lt;!channel&gt;",
        "&amp;lt;!here&amp;gt;",
        "> <!channel>",
        "- <@U1>\n  - <#C2>",
        "![<!here>](https://example.com/a.png)",
        "<mailto:a@b.c|<!channel>>",
        "[![<!here>](https://example.com/i.png)](https://example.com)",
    ],
)
def test_no_markup_from_the_model_survives(markdown: str) -> None:
    chunks = render_chunks(markdown)
    assert chunks
    assert_safe(chunks)


def test_formatting() -> None:
    text = "**bold** *it* ~~gone~~ `x < y`\n\n# Title\n\n- a\n- b\n  - c\n\n1. one\n2. two"
    assert render_chunks(text) == [
        "*bold* _it_ ~gone~ `x &lt; y`\n\n*Title*\n\n• a\n• b\n    • c\n\n1. one\n2. two"
    ]


def test_quotes_code_and_rules() -> None:
    text = "> said\n> twice\n\n```py\nif a < b && c:\n    pass\n```\n\n---"
    assert render_chunks(text) == [
        "> said\n> twice\n\n```\nif a &lt; b &amp;&amp; c:\n    pass\n```\n\n———"
    ]


def test_a_fence_inside_code_cannot_close_the_block() -> None:
    [chunk] = render_chunks("````\n```\n<!here>\n````")
    assert chunk.count("```") == 2 and "&lt;!here&gt;" in chunk


def test_links_only_for_http_and_mailto() -> None:
    assert render_chunks("[site](https://example.com/a?b=1&c=2)") == [
        "<https://example.com/a?b=1&amp;c=2|site>"
    ]
    assert render_chunks("[mail](mailto:a@example.com)") == ["<mailto:a@example.com|mail>"]
    assert render_chunks("[ftp](ftp://example.com/x)") == ["ftp (ftp://example.com/x)"]
    assert render_chunks("<https://example.com>") == ["<https://example.com|https://example.com>"]
    assert render_chunks("[js](javascript:alert(1))") == ["[js](javascript:alert(1))"]


def test_an_image_inside_a_link_is_its_alt_text() -> None:
    assert render_chunks("[![logo](https://example.com/i.png)](https://example.com)") == [
        "<https://example.com|logo>"
    ]


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("https://example.com/a|b", "https://example.com/a%7Cb"),
        ("https://example.com/<x>", "https://example.com/%3Cx%3E"),
        ("https://example.com/é", "https://example.com/%C3%A9"),
        ("http://example.com/?a=1&b=2", "http://example.com/?a=1&amp;b=2"),
        ("https:///nohost", None),
        ("file:///etc/passwd", None),
        ("mailto:nobody", None),
        (" https://example.com", None),
        ("https://example.com/\n", None),
    ],
)
def test_slack_link(href: str, expected: str | None) -> None:
    assert slack_link(href) == expected


def test_a_document_deeper_than_the_parser_follows_is_sent_as_plain_text() -> None:
    deep = "".join("> " * depth + f"level {depth}\n" for depth in range(1, 40)) + "<!here> tail"
    chunks = render_chunks(deep)
    assert "tail" in chunks[-1] and "level 39" in "".join(chunks)
    assert_safe(chunks)


def test_plain_blocks_escape_only() -> None:
    assert plain_blocks("*not bold* <@U1> & co") == [Block("*not bold* &lt;@U1&gt; &amp; co")]


def test_long_text_is_split_at_paragraphs_lines_then_words() -> None:
    paragraphs = ["word " * 300, "line\n" * 500, "x" * 9000]
    chunks = render_chunks("\n\n".join(paragraphs))
    assert all(len(chunk) <= MESSAGE_LIMIT for chunk in chunks)
    assert "".join(chunks).replace("\n", "").replace(" ", "") == "".join(paragraphs).replace(
        "\n", ""
    ).replace(" ", "")
    assert len(chunks) >= 4


def test_a_long_code_block_is_split_with_balanced_fences() -> None:
    code = "\n".join(f"print({n}) # <!channel>" for n in range(600))
    chunks = render_chunks(f"intro\n\n```\n{code}\n```\n\noutro")
    assert len(chunks) >= 4
    for chunk in chunks:
        assert len(chunk) <= MESSAGE_LIMIT
        assert chunk.count("```") % 2 == 0
    body = "".join(chunks)
    assert all(f"print({n})" in body for n in range(600))
    assert_safe(chunks)


def test_a_cut_never_falls_inside_an_escape_or_a_link() -> None:
    link = "[" + "label " * 20 + "](https://example.com/" + "p" * 100 + ")"
    text = ("<&> " * 30 + link + " ") * 40
    for limit in (MIN_LIMIT, 100, 333, 1000):
        chunks = split_blocks(render_mrkdwn(text), limit)
        assert all(len(chunk) <= limit for chunk in chunks) or limit < 300
        for chunk in chunks:
            assert not re.search(r"&(?:a|am|l|g)?$", chunk), chunk[-8:]
        if limit >= 300:
            assert_safe(chunks)


def test_split_refuses_a_limit_too_small() -> None:
    with pytest.raises(ValueError, match="at least"):
        split_blocks([Block("x")], MIN_LIMIT - 1)


def test_blank_input_gives_no_chunk() -> None:
    assert render_chunks("") == [] and render_chunks("  \n\n ") == []


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_never_reaches_the_wire_unescaped(text: str) -> None:
    chunks = render_chunks(text)
    assert_safe(chunks)
    assert all(len(chunk) <= MESSAGE_LIMIT for chunk in chunks)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=DANGEROUS, max_size=300))
def test_markup_heavy_text_never_reaches_the_wire_unescaped(text: str) -> None:
    assert_safe(render_chunks(text))


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=DANGEROUS, max_size=40),
    st.text(alphabet=DANGEROUS + "%?&=#", max_size=60),
)
def test_model_written_links_never_escape_their_brackets(label: str, path: str) -> None:
    for href in (f"https://example.com/{path}", path, f"mailto:{path}"):
        assert_safe(render_chunks(f"see [{label}]({href}) and ![{label}]({href})"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc <&>\n`*", min_size=1, max_size=400), max_size=30))
def test_every_chunk_fits_and_fences_balance(parts: list[str]) -> None:
    text = "\n\n".join(
        f"```\n{part}\n```" if index % 3 == 0 else part for index, part in enumerate(parts)
    )
    chunks = split_blocks(render_mrkdwn(text), 500)
    for chunk in chunks:
        assert len(chunk) <= 500
        assert chunk.count("```") % 2 == 0
    assert_safe(chunks)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghij \n", max_size=3000), st.integers(MIN_LIMIT, 600))
def test_splitting_plain_words_loses_none(text: str, limit: int) -> None:
    chunks = split_blocks(plain_blocks(text), limit)
    assert all(len(chunk) <= limit for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


def test_escape() -> None:
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
