"""The model's Markdown as Telegram text plus message entities (pure).

Replies are sent as plain `text` with an `entities` list and no `parse_mode`,
so Telegram never has anything to parse and never answers "can't parse
entities". Entity offsets and lengths count UTF-16 code units, as the Bot API
requires.

`render_markdown` parses CommonMark (markdown-it-py, raw HTML off, entity
references left as written, `~~strikethrough~~` on) and writes:

- `**bold**`, `*italic*`, `~~strike~~` -> bold, italic, strikethrough;
- `` `code` `` -> code; fenced and indented code blocks -> pre, with the
  fence's language when it looks like one;
- `[label](url)` and images -> text_link, but only for URLs Telegram accepts
  (http/https with a dotted host or an IPv6 literal and no user info, or
  `tg://` links other than user mentions, whose target may be unknown to the
  bot and would make Telegram refuse the whole message); any other link
  stays plain text: its label followed by the destination in parentheses;
- headings -> bold; list items -> "• " or "N. " lines, indented by depth;
  block quotes -> one blockquote entity (Telegram cannot nest them);
  thematic breaks -> a line of dashes;
- `<`, `>`, `&` and `&amp;` stay exactly as written: entities need no escaping.

Blocks are separated by a blank line (one line break inside lists), so the
splitter in `chunks` finds paragraph and line boundaries in the text.

The entities always satisfy Telegram's nesting rules: code and pre contain no
other entity and sit inside nothing but a blockquote (a bold run around code
is cut in two; a code span inside a link gives way to the link); links never
nest; entities of one style never overlap. Unbalanced markers stay literal
text (CommonMark's rule), so rendering never fails. Surrogate code points
(which no UTF-8 request can carry) are paired up into the character they
encode, or become U+FFFD when alone. A document nested deeper than the
parser follows (20 levels; a list takes two), whose tail the parser would
skip, is sent as plain text instead, so no text is ever lost.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import re
import urllib.parse
from collections.abc import Iterable, Sequence

import attrs
from markdown_it import MarkdownIt
from markdown_it.token import Token

from autobot.channels import markdown_source
from autobot.channels.markdown_source import ListStack
from autobot.channels.utf16 import LONE_SURROGATE

ENTITY_TYPES = frozenset(
    {"bold", "italic", "strikethrough", "code", "pre", "text_link", "blockquote"}
)

# Styles Telegram splits and merges freely (its "splittable" entities).
_STYLES = ("bold", "italic", "strikethrough")
# Outer entities first when two share a range (Telegram's own order).
_ORDER = {
    "blockquote": 0,
    "pre": 1,
    "code": 2,
    "text_link": 3,
    "bold": 4,
    "italic": 5,
    "strikethrough": 6,
}

_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,32}")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_TG_HOST = re.compile(r"[A-Za-z0-9_-]+")
# A dotted host name or a bracketed IPv6 literal, and an optional port.
_HTTP_NETLOC = re.compile(
    r"(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+\.?|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?"
)

BULLET = "• "
THEMATIC_BREAK = "———"

# Configured once here and never changed; each parse() keeps its state in
# its own call. CommonMark with HTML off (`<tag>` stays text), GFM
# strikethrough on, and `&amp;`-style references left as the model wrote them.
_PARSER = MarkdownIt("commonmark", {"html": False}).enable("strikethrough").disable("entity")


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units (2 for each character beyond the BMP)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_offsets(text: str) -> list[int]:
    """UTF-16 offset of every code point index of `text`, plus its total length.

    `utf16_offsets(text)[i]` is where `text[i]` starts in UTF-16 code units;
    the last element is `utf16_len(text)`.
    """
    return [0, *itertools.accumulate(2 if ord(char) > 0xFFFF else 1 for char in text)]


@attrs.frozen
class Entity:
    """One Telegram MessageEntity; offset and length count UTF-16 code units.

    Raises ValueError for an unknown type, a negative offset, an empty
    length, a `url` anywhere but on a text_link (which requires one), or a
    `language` anywhere but on a pre.
    """

    type: str = attrs.field(validator=attrs.validators.in_(ENTITY_TYPES))
    offset: int = attrs.field(validator=attrs.validators.ge(0))
    length: int = attrs.field(validator=attrs.validators.gt(0))
    url: str | None = None
    language: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.type == "text_link") != (self.url is not None):
            raise ValueError(
                f"a url belongs on a text_link entity and only there (type {self.type!r})"
            )
        if self.language is not None and self.type != "pre":
            raise ValueError(f"a language belongs on a pre entity only (type {self.type!r})")

    @property
    def end(self) -> int:
        """The UTF-16 offset just past the entity."""
        return self.offset + self.length

    def to_json(self) -> dict[str, str | int]:
        """The entity as the Bot API's MessageEntity object."""
        result: dict[str, str | int] = {
            "type": self.type,
            "offset": self.offset,
            "length": self.length,
        }
        if self.url is not None:
            result["url"] = self.url
        if self.language is not None:
            result["language"] = self.language
        return result


@attrs.frozen
class RenderedText:
    """Text ready for Telegram: plain text and the entities that format it.

    Raises ValueError when the text holds a lone surrogate (no UTF-8 request
    can carry it) or an entity reaches past the text or starts or ends
    inside a surrogate pair.
    """

    text: str
    entities: tuple[Entity, ...] = ()

    def __attrs_post_init__(self) -> None:
        lone = LONE_SURROGATE.search(self.text)
        if lone is not None:
            raise ValueError(f"text holds a lone surrogate at index {lone.start()}")
        if not self.entities:
            return
        offsets = utf16_offsets(self.text)
        boundaries = set(offsets) if offsets[-1] != len(self.text) else None
        for entity in self.entities:
            if entity.end > offsets[-1]:
                raise ValueError(f"{entity} ends past the text ({offsets[-1]} UTF-16 code units)")
            if boundaries is not None and not {entity.offset, entity.end} <= boundaries:
                raise ValueError(f"{entity} starts or ends inside a surrogate pair")


def render_markdown(markdown: str) -> RenderedText:
    """Telegram text and entities for `markdown` (never raises; see the module doc)."""
    source, tokens = markdown_source.parse(_PARSER, markdown)
    if tokens is None:
        return RenderedText(source)
    writer = _Writer()
    writer.blocks(tokens)
    return writer.result()


def telegram_link(href: str) -> str | None:
    """`href` if Telegram accepts it as a text_link URL, else None.

    Accepted: http and https URLs whose host has a dot (Telegram's rule) or
    is an IPv6 literal, without user info (a `trusted.example@evil.example`
    disguise) and with a port, if any, in 1-65535; `tg://host...` links whose
    host is letters, digits, `_` or `-`, except `tg://user` (a mention of a
    user the bot may not know, which fails the whole message). Spaces and
    control characters are refused anywhere (markdown-it has already
    percent-encoded those of a Markdown link).
    """
    if _SPACE_OR_CONTROL.search(href):
        return None
    try:
        parts = urllib.parse.urlsplit(href)
    except ValueError:  # an unbalanced IPv6 bracket
        return None
    if parts.scheme == "tg":
        host = _TG_HOST.fullmatch(parts.netloc)
        return href if host is not None and parts.netloc.lower() != "user" else None
    netloc = _HTTP_NETLOC.fullmatch(parts.netloc)
    if parts.scheme not in ("http", "https") or netloc is None:
        return None
    if netloc["port"] is not None and not 1 <= int(netloc["port"]) <= 65535:
        return None
    return href if netloc["ipv6"] is None or _is_ipv6(netloc["ipv6"]) else None


def _is_ipv6(address: str) -> bool:
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


@attrs.frozen
class _Span:
    """An entity in the making: UTF-16 [start, end) and its attributes."""

    type: str
    start: int
    end: int
    url: str | None = None
    language: str | None = None


@attrs.frozen
class _Open:
    """An inline entity opened and not yet closed."""

    type: str
    start: int
    part: int  # index of the first part written inside it
    href: str | None = None


@attrs.define
class _Writer:
    """Walks markdown-it tokens once, writing text and collecting entity spans."""

    parts: list[str] = attrs.Factory(list)
    offset: int = 0  # UTF-16 length written so far
    trailing_breaks: int = 0  # line breaks at the end of what is written
    breaks: int = 0  # line breaks owed before the next block
    lists: ListStack = attrs.Factory(ListStack)
    quote_depth: int = 0
    quote_start: int = 0
    open: list[_Open] = attrs.Factory(list)
    spans: list[_Span] = attrs.Factory(list)

    def write(self, text: str) -> None:
        if not text:
            return
        self.parts.append(text)
        self.offset += utf16_len(text)
        stripped = text.rstrip("\n")
        self.trailing_breaks = (
            len(text) - len(stripped) + (self.trailing_breaks if not stripped else 0)
        )

    def start_block(self) -> None:
        """Write the line breaks owed since the previous block (none at the start)."""
        if self.offset:
            self.write("\n" * max(0, self.breaks - self.trailing_breaks))
        self.breaks = 0

    def end_block(self) -> None:
        self.breaks = max(self.breaks, 1 if self.lists else 2)

    def blocks(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind in ("paragraph_open", "heading_open"):
                self.start_block()
                if kind == "heading_open":
                    self.open.append(_Open("bold", self.offset, len(self.parts)))
            elif kind == "heading_close":
                self.close()
                self.end_block()
            elif kind == "inline":
                self.inline(token.children or ())
            elif kind == "blockquote_open":
                self.start_block()
                if self.quote_depth == 0:
                    self.quote_start = self.offset
                self.quote_depth += 1
            elif kind == "blockquote_close":
                self.quote_depth -= 1
                if self.quote_depth == 0:
                    self.spans.append(_Span("blockquote", self.quote_start, self.offset))
                self.end_block()
            elif kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.open(token)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.close()
                self.end_block()
            elif kind == "list_item_open":
                self.list_item()
            elif kind == "list_item_close":
                self.breaks = max(self.breaks, 1)
            elif kind in ("fence", "code_block"):
                self.code_block(token)
            elif kind == "hr":
                self.start_block()
                self.write(THEMATIC_BREAK)
                self.end_block()
            elif kind == "paragraph_close":
                self.end_block()

    def list_item(self) -> None:
        self.breaks = max(self.breaks, 1)  # an item opening another list starts a line too
        self.start_block()
        indent = "  " * (len(self.lists) - 1)
        self.write(indent + self.lists.item_marker(BULLET))

    def code_block(self, token: Token) -> None:
        code = token.content.removesuffix("\n")
        if not code:
            return
        words = token.info.split(maxsplit=1)
        language = words[0] if words and _LANGUAGE.fullmatch(words[0]) else None
        self.start_block()
        start = self.offset
        self.write(code)
        self.spans.append(_Span("pre", start, self.offset, language=language))
        self.end_block()

    def inline(self, children: Iterable[Token]) -> None:
        for child in children:
            kind = child.type
            if kind in ("softbreak", "hardbreak"):
                self.write("\n")
            elif kind == "code_inline":
                start = self.offset
                self.write(child.content)
                self.spans.append(_Span("code", start, self.offset))
            elif kind in ("strong_open", "em_open", "s_open"):
                style = {"strong_open": "bold", "em_open": "italic", "s_open": "strikethrough"}[
                    kind
                ]
                self.open.append(_Open(style, self.offset, len(self.parts)))
            elif kind in ("strong_close", "em_close", "s_close", "link_close"):
                self.close()
            elif kind in ("link_open", "image"):
                href = str(child.attrs.get("href" if kind == "link_open" else "src", ""))
                self.open.append(_Open("text_link", self.offset, len(self.parts), href))
                if kind == "image":
                    self.write(child.content)
                    self.close()
            else:  # text, and anything else markdown-it reads as text
                self.write(child.content)

    def close(self) -> None:
        """Close the innermost open entity (markdown-it balances them)."""
        opened = self.open.pop()
        if opened.href is None:
            self.spans.append(_Span(opened.type, opened.start, self.offset))
            return
        label = "".join(self.parts[opened.part :])
        shown = _PARSER.normalizeLinkText(opened.href)
        if not label:
            self.write(shown)
        url = telegram_link(opened.href)
        if url is not None:
            self.spans.append(_Span("text_link", opened.start, self.offset, url=url))
        elif label and shown.removeprefix("mailto:") != label:
            self.write(f" ({shown})")

    def result(self) -> RenderedText:
        text = "".join(self.parts).rstrip("\n")
        return RenderedText(text, _entities(self.spans, utf16_len(text)))


Interval = tuple[int, int]


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent intervals covering the same code units."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """The parts of sorted disjoint `intervals` outside sorted disjoint `holes` (one sweep)."""
    pieces: list[Interval] = []
    first = 0  # the first hole that may still meet an interval
    for start, end in intervals:
        while first < len(holes) and holes[first][1] <= start:
            first += 1
        meeting = first
        while meeting < len(holes) and holes[meeting][0] < end:
            hole_start, hole_end = holes[meeting]
            if hole_start > start:
                pieces.append((start, hole_start))
            start = max(start, hole_end)
            meeting += 1
        if start < end:
            pieces.append((start, end))
    return pieces


def _entities(spans: list[_Span], length: int) -> tuple[Entity, ...]:
    """Entities for the spans, clipped to the text, obeying Telegram's nesting rules."""
    spans = [
        attrs.evolve(span, end=min(span.end, length))
        for span in spans
        if span.start < min(span.end, length)
    ]
    # Spans close inner first: on equal ranges the later one is the outer link,
    # and an image link inside a link gives way to it.
    candidates = [(index, s) for index, s in enumerate(spans) if s.type == "text_link"]
    links: list[_Span] = []
    for _, span in sorted(candidates, key=lambda pair: (pair[1].start, -pair[1].end, -pair[0])):
        if not links or span.start >= links[-1].end:
            links.append(span)
    link_starts = [link.start for link in links]

    def in_link(span: _Span) -> bool:
        index = bisect.bisect_right(link_starts, span.start) - 1
        return index >= 0 and span.start < links[index].end

    atomic = [
        span for span in spans if span.type == "pre" or (span.type == "code" and not in_link(span))
    ]
    holes = _union((span.start, span.end) for span in atomic)
    kept = [span for span in spans if span.type == "blockquote"] + links + atomic
    for style in _STYLES:
        ranges = _subtract(_union((s.start, s.end) for s in spans if s.type == style), holes)
        kept.extend(_Span(style, start, end) for start, end in ranges)
    kept.sort(key=lambda s: (s.start, -s.end, _ORDER[s.type]))
    return tuple(
        Entity(s.type, s.start, s.end - s.start, url=s.url, language=s.language) for s in kept
    )
