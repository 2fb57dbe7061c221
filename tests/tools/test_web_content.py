"""Pure rendering of web content: HTML to text, content types, truncation, fencing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.tools.html_text import html_to_text
from autobot.tools.web_content import (
    UNTRUSTED_BEGIN,
    UNTRUSTED_END,
    BinaryContentError,
    RenderedBody,
    neutralize,
    render_body,
    truncate,
    wrap_untrusted,
)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<h2>Title</h2><p>Body</p>", "## Title\n\nBody"),
        ("<p>a<br>b</p>", "a\nb"),
        ("<script>var x = '<p>no</p>';</script><p>yes</p>", "yes"),
        ("<style>p { color: red }</style><noscript>js off</noscript>ok", "ok"),
        ("<template><p>hidden</p></template><svg><text>icon</text></svg>shown", "shown"),
        ("<p>  lots \n\n of   space </p>", "lots of space"),
        ("<a href='https://x.test/p'>link</a>", "link (https://x.test/p)"),
        ("<a href='javascript:alert(1)'>js</a>", "js"),
        ("<a href='/rel'>rel</a>", "rel (https://base.test/rel)"),
        ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
        ("<p>&lt;tag&gt; &amp; &#169;</p>", "<tag> & \u00a9"),
        ("<pre>  keep\n    indent</pre>", "keep\n    indent"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "| a | b"),
        ("unclosed <b>bold <i>italic", "unclosed bold italic"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html, "https://base.test/page") == text


@given(st.text())
def test_html_to_text_never_raises(html: str) -> None:
    assert isinstance(html_to_text(html), str)


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        (b"<p>hi</p>", "text/html", "hi"),
        (b"<p>hi</p>", "application/xhtml+xml", "hi"),
        (b'{"a":1}', "application/json", '{\n  "a": 1\n}'),
        (b'{"a":1}', "application/problem+json; charset=utf-8", '{\n  "a": 1\n}'),
        (b'{"a":', "application/json", '{"a":'),
        (b"caf\xe9", "text/plain; charset=latin-1", "caf\u00e9"),
        (b"caf\xc3\xa9", "text/plain", "caf\u00e9"),
        (b"\xef\xbb\xbfbom", "text/plain; charset=latin-1", "bom"),
        (b"x", "text/plain; charset=zlib", "x"),
        (b"x", "text/plain; charset=no-such-codec", "x"),
        (b"<a/>", "application/rss+xml", "<a/>"),
        (b"<!DOCTYPE html><p>sniffed</p>", None, "sniffed"),
        (b"plain", None, "plain"),
    ],
)
def test_body_to_text(body: bytes, content_type: str | None, text: str) -> None:
    assert render_body(body, content_type, "https://base.test/") == RenderedBody(text)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\x89PNG", "image/png"),
        (b"%PDF-1.7", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x00\x01", None),
    ],
)
def test_binary_is_refused(body: bytes, content_type: str | None) -> None:
    with pytest.raises(BinaryContentError, match="binary content"):
        render_body(body, content_type, "https://base.test/")


def test_truncate() -> None:
    assert truncate("abc", 3) == ("abc", None)
    assert truncate("abcdef", 4) == ("abcd", "[truncated: showing the first 4 of 6 chars]")


@given(st.text(alphabet="<>!ENDXTRU_ab\n", max_size=200), st.text(max_size=50))
def test_content_can_never_forge_a_marker(content: str, source: str) -> None:
    fenced = wrap_untrusted(content, source)
    assert fenced.count(UNTRUSTED_BEGIN) == 1
    assert fenced.count(UNTRUSTED_END) == 1
    assert fenced.endswith(UNTRUSTED_END)
    assert "<<<" not in neutralize(content)
    assert ">>>" not in neutralize(content)
