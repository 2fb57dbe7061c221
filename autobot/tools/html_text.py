"""HTML reduced to readable text for the model (pure, no I/O, linear time).

`extract_text(html, base_url, limit=...)` drops script, style, noscript,
template, svg, head (until `<body>`), iframe and object content; keeps
headings (`# `), list items (`- `), paragraph and line breaks, `<pre>`
layout, and link text followed by the absolute http(s) target
(`text (url)`); collapses other whitespace; decodes character references;
drops NUL characters. It stops once `limit` characters of text are out
(`HtmlText.complete` is then False), so a page of tiny links under a long
base URL cannot grow without bound. Tokens come from
`autobot.tools.html_tokens`, which is linear in the input; the work per
token here is linear in the token (links are resolved only when shown).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import attrs

from autobot.tools.html_tokens import Kind, Token, Tokenizer, decode_entities

DEFAULT_TEXT_LIMIT = 1_000_000
_SKIPPED = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "head", "iframe", "object",
        "noembed", "noframes",
    }
)  # fmt: skip
_BLOCKS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
        "ul", "ol", "table", "tr", "blockquote", "pre", "form", "figure", "figcaption",
        "dl", "dt", "dd", "address", "details", "summary", "hr",
    }
)  # fmt: skip
_HEADINGS = {f"h{n}": "#" * n for n in range(1, 7)}
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")


@attrs.frozen
class HtmlText:
    """The text of a page; `complete` is False when it was cut at the limit."""

    text: str
    complete: bool


def html_to_text(html: str, base_url: str = "") -> str:
    """The readable text of `html` (up to `DEFAULT_TEXT_LIMIT` characters);
    relative links are resolved against `base_url`."""
    return extract_text(html, base_url).text


def extract_text(html: str, base_url: str = "", *, limit: int = DEFAULT_TEXT_LIMIT) -> HtmlText:
    """The readable text of `html`, at most `limit` characters of it."""
    extractor = _TextExtractor(html, base_url, limit)
    for token in Tokenizer(html):
        extractor.feed(token)
        if extractor.full:
            break
    text = extractor.text()
    return HtmlText(text[:limit], complete=not extractor.full and len(text) <= limit)


@attrs.define
class _TextExtractor:
    html: str
    base_url: str
    limit: int
    full: bool = False
    _out: list[str] = attrs.field(factory=list)
    _size: int = 0
    _skip_depth: int = 0
    _pre_depth: int = 0
    _links: list[str | None] = attrs.field(factory=list)

    def feed(self, token: Token) -> None:
        if token.kind is Kind.START:
            self._start(token)
        elif token.kind is Kind.END:
            self._end(token.name)
        elif token.kind is Kind.TEXT:
            self._data(decode_entities(self.html[token.start : token.end]))
        elif token.kind is Kind.RAW_TEXT:
            self._data(self.html[token.start : token.end])

    def text(self) -> str:
        lines = (line.rstrip() for line in "".join(self._out).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()

    def _emit(self, piece: str) -> None:
        self._out.append(piece)
        self._size += len(piece)
        self.full = self._size > self.limit

    def _start(self, token: Token) -> None:
        tag = token.name
        if tag == "body":
            self._skip_depth = 0  # closes a <head> left open
            return
        if tag in _SKIPPED:
            if not (token.self_closing and tag == "svg"):  # only foreign elements self-close
                self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag == "br":
            self._emit("\n")
        elif tag in _HEADINGS:
            self._emit(f"\n\n{_HEADINGS[tag]} ")
        elif tag == "li":
            self._emit("\n- ")
        elif tag in ("td", "th"):
            self._emit(" | ")
        elif tag in _BLOCKS:
            self._emit("\n\n")
        if tag == "pre":
            self._pre_depth += 1
        if tag == "a":
            self._links.append(next((v for k, v in token.attrs if k == "href"), None))

    def _end(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag in _HEADINGS or tag in _BLOCKS:
            self._emit("\n\n")
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag == "a" and self._links:
            href = self._absolute(self._links.pop())
            if href:
                self._emit(f" ({href})")

    def _data(self, data: str) -> None:
        if self._skip_depth:
            return
        data = data.replace("\x00", "")
        if self._pre_depth:
            self._emit(data)
            return
        collapsed = _SPACES.sub(" ", data.replace("\n", " "))
        if not self._out or self._out[-1].endswith((" ", "\n")):
            collapsed = collapsed.lstrip(" ")
        if collapsed:
            self._emit(collapsed)

    def _absolute(self, href: str | None) -> str | None:
        if not href:
            return None
        try:
            url = urljoin(self.base_url, decode_entities(href).strip())
            scheme = urlsplit(url).scheme
        except ValueError:
            return None
        return url if scheme in ("http", "https") else None
