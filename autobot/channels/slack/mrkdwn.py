"""The model's Markdown as Slack mrkdwn, escaped and split to Slack's size (pure).

`render_mrkdwn(markdown)` parses CommonMark (markdown-it-py, raw HTML off,
`~~strikethrough~~` on) and writes Slack's markup:

- `**bold**` -> `*bold*`, `*italic*` -> `_italic_`, `~~strike~~` -> `~strike~`,
  `` `code` `` -> `` `code` ``, fenced and indented code -> a ``` block;
- headings -> a bold line; list items -> "• " or "N. " lines, indented by
  depth; block quotes -> "> " lines; thematic breaks -> a line of dashes;
- `[label](url)` and images -> `<url|label>`, but only for http(s) and
  mailto URLs, with every character Slack would read as markup
  percent-encoded; any other link stays text: its label and, in
  parentheses, its destination.

Escaping is the security property: every `&`, `<` and `>` that comes from
the model is written `&amp;`, `&lt;`, `&gt;` (Slack's only escapes), in text,
code and link labels alike. So the model can never produce `<!channel>`,
`<!here>`, `<!everyone>`, `<@U…>`, `<#C…>` or a link it did not write as a
Markdown link: the only `<` in the output open links this module wrote,
and each of those starts `<http://`, `<https://` or `<mailto:`. A document
nested deeper than the parser follows (whose tail it would skip) is sent
as escaped plain text, so no text is ever lost.

`split_blocks(blocks, limit)` packs the rendered blocks into messages of at
most `limit` characters (Slack asks for 4,000): whole blocks where they fit,
else a block is cut at a line break, then a space, then anywhere that is not
inside an escape or a link. A code block that must be cut is closed at the
end of each piece and opened again in the next, so every message has
balanced fences. Pieces holding only whitespace are left out.
"""

from __future__ import annotations

import bisect
import re
import urllib.parse
from collections.abc import Iterator, Sequence

import attrs
from markdown_it import MarkdownIt
from markdown_it.token import Token

from autobot.channels import markdown_source
from autobot.channels.markdown_source import ListStack
from autobot.channels.utf16 import valid_utf16

MESSAGE_LIMIT = 4000  # characters per chat.postMessage text (Slack's advice)
MIN_LIMIT = 64  # a code fence and a few characters must fit
MAX_LINK_URL = 2000
MAX_LINK_LABEL = 1000
BULLET = "• "
THEMATIC_BREAK = "———"
FENCE = "```"
LINK_SCHEMES = frozenset({"http", "https", "mailto"})

# Configured once here and never changed; each parse() keeps its state in its own call.
_PARSER = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
# What a cut must not fall inside: an escape this module wrote, or a link.
_ATOMIC = re.compile(r"&(?:amp|lt|gt);|<[^<>]*>")
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"  # percent-encoded: < > | " space \ ^ ` { } non-ASCII


@attrs.frozen
class Block:
    """A paragraph-level piece of a message: its mrkdwn `text`, whether it is a
    code block, and the separator written before it when it follows another
    block in the same message."""

    text: str
    code: bool = False
    joiner: str = "\n\n"


def escape(text: str) -> str:
    """`&`, `<` and `>` as Slack's escapes: text that can never be markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(href: str) -> str | None:
    """`href` as the URL part of `<url|label>` (escaped, percent-encoded), or
    None when it is not an http(s) URL with a host or a mailto address."""
    if not href or len(href) > MAX_LINK_URL or not href.isprintable() or href != href.strip():
        return None
    try:
        parts = urllib.parse.urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES:
        return None
    if scheme == "mailto" and "@" not in parts.path:
        return None
    if scheme != "mailto" and not parts.hostname:
        return None
    quoted = urllib.parse.quote(href, safe=_URL_SAFE)
    return quoted.replace("&", "&amp;")


def plain_blocks(text: str) -> list[Block]:
    """`text` without formatting, escaped: one block."""
    return [Block(escape(valid_utf16(text)))]


def render_mrkdwn(markdown: str) -> list[Block]:
    """The blocks of `markdown` in Slack mrkdwn (never raises; see the module doc)."""
    source, tokens = markdown_source.parse(_PARSER, markdown)
    if tokens is None:
        return plain_blocks(source)
    writer = _Writer()
    writer.blocks(tokens)
    return writer.out


def render_chunks(markdown: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`markdown` rendered and split: the texts of the messages to send."""
    return split_blocks(render_mrkdwn(markdown), limit)


@attrs.define
class _Writer:
    """Walks markdown-it's block tokens and collects `Block`s."""

    out: list[Block] = attrs.field(factory=list)
    lists: ListStack = attrs.field(factory=ListStack)
    quotes: int = 0
    marker: str | None = None  # the list marker the next line of text starts with
    joiner: str = "\n\n"

    def blocks(self, tokens: Sequence[Token]) -> None:
        heading = False
        for token in tokens:
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.open(token)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.close()
                if not self.lists:
                    self.joiner = "\n\n"
            elif kind == "list_item_open":
                self.marker = self.lists.item_marker(BULLET)
            elif kind == "blockquote_open":
                self.quotes += 1
            elif kind == "blockquote_close":
                self.quotes -= 1
            elif kind == "heading_open":
                heading = True
            elif kind == "heading_close":
                heading = False
            elif kind == "inline":
                text = _inline(token.children or [])
                if heading and text.strip():
                    text = f"*{text}*"
                self._text(text)
            elif kind in ("fence", "code_block"):
                self._code(token.content)
            elif kind == "hr":
                self._text(THEMATIC_BREAK)

    def _add(self, block: Block) -> None:
        self.out.append(block)
        self.joiner = "\n" if self.lists else "\n\n"

    def _text(self, text: str) -> None:
        if not text.strip():
            return
        depth = max(len(self.lists) - 1, 0)
        marker = self.marker or ""
        self.marker = None
        indent = "    " * depth
        quote = "> " * self.quotes
        lines = text.split("\n")
        first = f"{quote}{indent}{marker}{lines[0]}"
        rest = [f"{quote}{indent}{' ' * len(marker)}{line}" for line in lines[1:]]
        self._add(Block("\n".join([first, *rest]), joiner=self.joiner))

    def _code(self, content: str) -> None:
        body = escape(content.rstrip("\n")).replace(FENCE, "``\u200b`")
        if not body.strip():
            return
        self.marker = None
        self._add(Block(f"{FENCE}\n{body}\n{FENCE}", code=True, joiner=self.joiner))


_MARKS = {
    "strong_open": "*",
    "strong_close": "*",
    "em_open": "_",
    "em_close": "_",
    "s_open": "~",
    "s_close": "~",
}


def _inline(children: Sequence[Token]) -> str:
    """One paragraph's inline tokens as mrkdwn."""
    out: list[str] = []
    links: list[tuple[int, str, str | None]] = []  # (start in out, href, slack url)
    for token in children:
        kind = token.type
        if kind == "text":
            out.append(escape(token.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append(" " if links else "\n")
        elif kind in _MARKS:
            out.append(_MARKS[kind])
        elif kind == "code_inline":
            out.append(f"`{escape(token.content)}`")
        elif kind == "link_open":
            href = str(token.attrGet("href") or "")
            links.append((len(out), href, slack_link(href)))
        elif kind == "link_close" and links:
            start, href, url = links.pop()
            label = "".join(out[start:])
            del out[start:]
            out.append(_link(href, url, label))
        elif kind == "image":
            href = str(token.attrGet("src") or "")
            label = _inline(token.children or []).replace("\n", " ")
            # inside a link's label an image is its alt text: links never nest
            out.append(label if links else _link(href, slack_link(href), label))
    return "".join(out)


def _link(href: str, url: str | None, label: str) -> str:
    """`<url|label>` for a usable URL and a short label, else the label and
    the destination as text."""
    if url is not None and len(label) <= MAX_LINK_LABEL:
        return f"<{url}|{label}>" if label.strip() else f"<{url}>"
    shown = escape(href)
    if not label.strip():
        return shown
    return f"{label} ({shown})" if shown and shown != label else label


# ---- splitting ---------------------------------------------------------------------------


def split_blocks(blocks: Sequence[Block], limit: int = MESSAGE_LIMIT) -> list[str]:
    """`blocks` packed into messages of at most `limit` characters (see the
    module docstring). Raises ValueError for a `limit` below `MIN_LIMIT`."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT} characters, got {limit}")
    chunks: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(block, limit):
            if current and len(current) + len(piece.joiner) + len(piece.text) <= limit:
                current += piece.joiner + piece.text
                continue
            if current.strip():
                chunks.append(current)
            current = piece.text
    if current.strip():
        chunks.append(current)
    return chunks


def _fit(block: Block, limit: int) -> Iterator[Block]:
    """`block` whole, or cut into pieces of at most `limit` characters."""
    if len(block.text) <= limit:
        yield block
        return
    if block.code:
        body = block.text[len(FENCE) + 1 : -(len(FENCE) + 1)]
        room = limit - 2 * (len(FENCE) + 1)
        for index, part in enumerate(_cut(body, room, words=False)):
            yield Block(
                f"{FENCE}\n{part}\n{FENCE}", code=True, joiner="\n" if index else block.joiner
            )
        return
    for index, part in enumerate(_cut(block.text, limit, words=True)):
        yield Block(part, joiner="\n" if index else block.joiner)


def _cut(text: str, limit: int, *, words: bool) -> Iterator[str]:
    """`text` in pieces of at most `limit` characters, each ending at a line
    break (dropped), else (`words`) a space (dropped), else at the furthest
    position outside any escape or link."""
    spans = [match.span() for match in _ATOMIC.finditer(text)]
    starts = [start for start, _ in spans]
    offset = 0
    while len(text) - offset > limit:
        end = offset + limit
        cut = _last_boundary(text, offset, end, "\n", spans, starts)
        if cut is None and words:
            cut = _last_boundary(text, offset, end, " ", spans, starts)
        if cut is not None:
            yield text[offset:cut]
            offset = cut + 1
            continue
        hard = end
        while hard > offset + 1 and _inside(hard, spans, starts):
            hard -= 1
        if _inside(hard, spans, starts):  # one atomic span longer than the limit
            hard = end
        yield text[offset:hard]
        offset = hard
    yield text[offset:]


def _last_boundary(
    text: str, start: int, end: int, char: str, spans: list[tuple[int, int]], starts: list[int]
) -> int | None:
    """The last `char` in text[start+1:end] (so the piece before it is not
    empty) that is not inside an atomic span."""
    position = text.rfind(char, start + 1, end + 1 if end < len(text) else end)
    while position > start:
        if not _inside(position, spans, starts):
            return position
        position = text.rfind(char, start + 1, position)
    return None


def _inside(position: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    """Whether a cut at `position` would fall strictly inside an atomic span."""
    index = bisect.bisect_left(starts, position) - 1
    return index >= 0 and spans[index][0] < position < spans[index][1]
