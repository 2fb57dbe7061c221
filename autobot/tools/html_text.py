"""HTML reduced to readable text for the model (stdlib `html.parser`, no I/O).

`html_to_text(html, base_url)` drops script, style, noscript, template, svg
and head content; keeps headings (`# `), list items (`- `), paragraph and
line breaks, and link text followed by the absolute http(s) target
(`text (url)`); collapses other whitespace; decodes entities.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "area", "base", "col"})
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


def html_to_text(html: str, base_url: str = "") -> str:
    """The readable text of `html`; relative links are resolved against `base_url`."""
    parser = _TextExtractor(base_url)
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextExtractor(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self._base_url = base_url
        self._out: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += tag not in _VOID
            return
        if self._skip_depth:
            return
        if tag == "br":
            self._out.append("\n")
        elif tag in _HEADINGS:
            self._out.append(f"\n\n{_HEADINGS[tag]} ")
        elif tag == "li":
            self._out.append("\n- ")
        elif tag in ("td", "th"):
            self._out.append(" | ")
        elif tag in _BLOCKS:
            self._out.append("\n\n")
        if tag == "pre":
            self._pre_depth += 1
        if tag == "a":
            self._links.append(self._absolute(dict(attrs).get("href")))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag in _HEADINGS or tag in _BLOCKS:
            self._out.append("\n\n")
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag == "a" and self._links:
            href = self._links.pop()
            if href:
                self._out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            self._out.append(data)
            return
        collapsed = _SPACES.sub(" ", data.replace("\n", " "))
        if not self._out or self._out[-1].endswith((" ", "\n")):
            collapsed = collapsed.lstrip(" ")
        self._out.append(collapsed)

    def text(self) -> str:
        lines = (line.rstrip() for line in "".join(self._out).split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()

    def _absolute(self, href: str | None) -> str | None:
        if not href:
            return None
        try:
            url = urljoin(self._base_url, href.strip())
            scheme = urlsplit(url).scheme
        except ValueError:
            return None
        return url if scheme in ("http", "https") else None
