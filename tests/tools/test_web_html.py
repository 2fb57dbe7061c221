"""The HTML tokenizer and text extraction: behaviour, and linear work on hostile input.

Linearity is shown structurally, never by the clock: every tokenizer step
consumes at least one character (tokens tile the input), so the step count
is bounded by the input length, and the inputs are large enough that a
quadratic tokenizer (stdlib `html.parser` took 8.4 s for 30 KB of `<a `)
would keep this file running for many minutes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.tools.html_text import extract_text, html_to_text
from autobot.tools.html_tokens import Kind, Tokenizer, decode_entities

HOSTILE_SIZE = 200_000  # characters: 6 minutes for `<a ` with stdlib html.parser

HOSTILE: dict[str, Callable[[int], str]] = {
    "open tag with spaces": lambda n: "<html>" + "<a " * (n // 3),
    "open tags without spaces": lambda n: "<a" * (n // 2),
    "unclosed tags": lambda n: "<b>x" * (n // 4),
    "unterminated comment": lambda n: "<!--" + "x" * n,
    "comment openers": lambda n: "<!--" * (n // 4),
    "cdata openers": lambda n: "<![CDATA[" * (n // 9),
    "bogus declarations": lambda n: "<!" * (n // 2),
    "processing instructions": lambda n: "<?" * (n // 2),
    "deep nesting": lambda n: "<div>" * (n // 5),
    "deep table nesting": lambda n: "<table><tr><td>" * (n // 15),
    "long quoted attribute": lambda n: "<a href='" + "x" * n,
    "long unquoted attribute": lambda n: "<a href=" + "x" * n + ">link</a>",
    "many attributes": lambda n: "<p " + "a=b " * (n // 4),
    "many quoted attributes": lambda n: "<a" + ' href="x"' * (n // 9),
    "ampersands": lambda n: "&" * n,
    "numeric reference openers": lambda n: "&#" * (n // 2),
    "a huge numeric reference": lambda n: "&#" + "9" * n + ";",
    "named references without semicolons": lambda n: "&amp" * (n // 4),
    "end tag openers": lambda n: "</" * (n // 2),
    "less-than signs": lambda n: "<" * n,
    "null bytes": lambda n: "\x00" * n,
    "null bytes in tags": lambda n: "<\x00" * (n // 2),
    "unterminated script": lambda n: "<script>" + "</scrip" * (n // 7),
    "unterminated title": lambda n: "<title>" + "<" * n,
    "links under a long base": lambda n: "<a href=x>y</a>" * (n // 15),
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_takes_at_most_one_step_per_character(make: Callable[[int], str]) -> None:
    html = make(HOSTILE_SIZE)
    assert_linear_tiling(html)
    # The extractor does work linear in each token, and stops at its limit.
    result = extract_text(html, "https://example.com/" + "p" * 8000, limit=50_000)
    assert len(result.text) <= 50_000


@given(st.text(alphabet="<>/!?-[]'\"= \n\tabpscriptCDATA&#;x0\x00", max_size=300))
def test_tokens_tile_any_input(html: str) -> None:
    assert_linear_tiling(html)


def assert_linear_tiling(html: str) -> None:
    """Non-empty tokens tile `html` in order, in at most one step per character."""
    tokenizer = Tokenizer(html)
    end = 0
    for token in tokenizer:
        assert token.start == end
        assert token.end > token.start
        end = token.end
    assert end == len(html)
    assert tokenizer.steps <= len(html)


def test_tokens() -> None:
    html = "a<p class=x CLASS=y id='q>r'/>b<!-- c -->d</P >e<script>1 < 2</script>"
    tokens = [(t.kind, html[t.start : t.end], t.name, t.attrs) for t in Tokenizer(html)]
    assert tokens == [
        (Kind.TEXT, "a", "", ()),
        (Kind.START, "<p class=x CLASS=y id='q>r'/>", "p", (("class", "x"), ("id", "q>r"))),
        (Kind.TEXT, "b", "", ()),
        (Kind.SKIPPED, "<!-- c -->", "", ()),
        (Kind.TEXT, "d", "", ()),
        (Kind.END, "</P >", "p", ()),
        (Kind.TEXT, "e", "", ()),
        (Kind.START, "<script>", "script", ()),
        (Kind.RAW_TEXT, "1 < 2", "", ()),
        (Kind.END, "</script>", "script", ()),
    ]


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("&lt;&gt;&amp;&quot;&#39;", "<>&\"'"),
        ("&#169; &#xA9; &#XA9;", "\u00a9 \u00a9 \u00a9"),
        ("&copy &ampx", "\u00a9 &x"),
        ("&#0; &#128; &#xD800;", "\ufffd \u20ac \ufffd"),
        ("&#0000000065;", "A"),
        ("&#" + "9" * 5000 + ";", "\ufffd"),
        ("&nosuchentity; & &# &#x;", "&nosuchentity; & &# &#x;"),
    ],
)
def test_decode_entities(text: str, decoded: str) -> None:
    assert decode_entities(text) == decoded


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<head><title>T</title><body><p>shown</p>", "shown"),
        ("<svg/><p>after a self-closed svg</p>", "after a self-closed svg"),
        ('<a href="/x?a=1&amp;b=2">q</a>', "q (https://base.test/x?a=1&b=2)"),
        ("<a href='/x>y'>quoted</a>", "quoted (https://base.test/x>y)"),
        ("<script>if (a </b) { '</scriptx>' }</script>after", "after"),
        ("<textarea><b>literal</b> &amp;</textarea>", "<b>literal</b> &"),
        ("<!-->x<!--->y<![CDATA[ no > ]]>z<?pi?>w", "xyzw"),
        ("a\x00b<p\x00>c", "abc"),
        ("<p>1 < 2 and 3 > 2</p>", "1 < 2 and 3 > 2"),
        ("<p>cut off <a href='/never", "cut off"),
        ("<p>x</p><!-- unterminated <p>y</p>", "x"),
    ],
)
def test_extract_text(html: str, text: str) -> None:
    assert html_to_text(html, "https://base.test/page") == text


def test_the_limit_cuts_the_text() -> None:
    result = extract_text("<p>" + "word " * 1000, limit=100)
    assert len(result.text) == 100
    assert not result.complete
    full = extract_text("<p>" + "word " * 10, limit=100)
    assert full.complete
