"""The model's Markdown as WhatsApp text, cut into messages (pure).

`whatsapp_chunks(markdown, limit)` parses CommonMark (markdown-it-py, raw HTML
off so `<tag>` stays text, entity references left as written, GFM
strikethrough and tables on) and writes WhatsApp's own markup:

- `**bold**` / `__bold__` -> `*bold*`; `*italic*` / `_italic_` -> `_italic_`;
  `~~strike~~` -> `~strike~`; `` `code` `` -> `` `code` `` (three backticks
  when the code holds one), its content as written;
- fenced and indented code -> a block: a line of three backticks, the code
  verbatim, a line of three backticks (no formatting is read inside);
- headings -> a bold line; list items -> `- ` or `N. ` lines, indented two
  spaces per level; block quotes -> `> ` lines; table rows -> lines of cells
  joined by ` | `, header cells bold; thematic breaks -> a line of dashes;
- `[label](url)` -> `label (url)`, or the url alone when the label is the
  url; images -> their alt text and url the same way. URLs are written as
  they are (never marked up or altered), so WhatsApp still detects them.

WhatsApp reads a marker pair only when the opening marker follows the line
start, a space or punctuation and is followed by a non-space, and the
closing one is preceded by a non-space and followed by the line end, a space
or punctuation. So a span is written with markers only when they hold there:
a span whose markers would touch a letter or digit outside (`un**believ**able`)
or that starts or ends with a space is written without them (its text kept,
unformatted). Markers are closed at every line end and opened again on the
next line, and spans are written properly nested.

Literal `*`, `_`, `~` and `` ` `` in the text (a `\\*` the model escaped, a
`~/path` in prose) must not format by accident, and WhatsApp has no escape
character. A literal marker character that could open a span by the rule
above while a same character able to close it follows on the line (or that
could close one such a character opens before it) gets a WORD JOINER
(U+2060: invisible, no width, neither space nor punctuation, and unlike
U+200D it joins no glyphs) on each side, so it can do neither. The others
(`2 * 3`, `snake_case`, a lone `~/path`) are left as written, so that text
copied from the message stays the same; code and URLs are never touched,
and a span's own marker is not written next to a literal one (the span
stays unformatted). A code block's content is verbatim, except that a run
of three backticks inside it (which would end the block) gets a word joiner
after its second backtick.

Cutting (`limit` UTF-16 units per message): whole blocks where they fit
(paragraph boundaries first), else a block's lines, else a line at its last
space that fits (the space dropped), else a hard cut at a code point. Every
piece is written on its own, so a span cut in two is closed at the end of
one message and opened again in the next; a code block that must be cut is
fenced again in each message (at its line breaks, else hard). Messages
holding only whitespace are left out.

Never raises for any text: unbalanced markers stay literal (CommonMark's
rule), surrogates are made valid (`utf16.valid_utf16`), and a document
nested deeper than the parser follows (20 levels; it would skip the tail)
is sent as unformatted text, so no word is ever lost.
"""

from __future__ import annotations

import bisect
import itertools
import unicodedata
from collections.abc import Callable, Iterator, Sequence

import attrs
from markdown_it import MarkdownIt
from markdown_it.token import Token

from autobot.channels import markdown_source
from autobot.channels.markdown_source import ListStack
from autobot.channels.whatsapp.protocol import utf16_units

MIN_LIMIT = 32  # a fenced code point with every marker and its word joiners fits
WORD_JOINER = "\u2060"
FENCE = "```"
BULLET = "- "
THEMATIC_BREAK = "———"
CELL_SEPARATOR = " | "
MARKER_CHARS = frozenset("*_~`")

BOLD, ITALIC, STRIKE, CODE = "bold", "italic", "strike", "code"
_MARKS = {BOLD: "*", ITALIC: "_", STRIKE: "~"}
_NESTING = (BOLD, ITALIC, STRIKE, CODE)  # outer first; code is always innermost
_INLINE_STYLES = {
    "strong_open": BOLD,
    "em_open": ITALIC,
    "s_open": STRIKE,
    "strong_close": BOLD,
    "em_close": ITALIC,
    "s_close": STRIKE,
}

# Configured once here and never changed; each parse() keeps its state in its own call.
_PARSER = (
    MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"]).disable("entity")
)


@attrs.frozen
class Run:
    """Text with one set of styles; `url` text is written as is, never marked up."""

    text: str
    styles: frozenset[str] = frozenset()
    url: bool = False


@attrs.frozen
class Line:
    """One line of a text block: its runs, the prefix of its first piece
    (quote marks, indent, list marker) and of a piece cut from it."""

    runs: tuple[Run, ...]
    prefix: str = ""
    hanging: str = ""


@attrs.frozen
class TextBlock:
    """Lines of formatted text, and the separator before the block."""

    lines: tuple[Line, ...]
    joiner: str = "\n\n"


@attrs.frozen
class CodeBlock:
    """A code block's content (never empty), and the separator before the block."""

    code: str
    joiner: str = "\n\n"


Block = TextBlock | CodeBlock


@attrs.frozen
class _Piece:
    """Message text that is never cut further: `alone` when it starts a
    message, `after` when it follows the previous piece in the same one."""

    alone: str
    after: str


def whatsapp_chunks(markdown: str, limit: int) -> list[str]:
    """`markdown` as WhatsApp messages of at most `limit` UTF-16 units each
    (see the module doc). Raises ValueError for a `limit` below `MIN_LIMIT`."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT} UTF-16 units, got {limit}")
    chunks: list[str] = []
    current, size = "", 0
    for piece in _pieces(render_blocks(markdown), limit):
        units = utf16_units(piece.after)
        if current and size + units <= limit:
            current, size = current + piece.after, size + units
            continue
        if current.strip():
            chunks.append(current)
        current, size = piece.alone, utf16_units(piece.alone)
    if current.strip():
        chunks.append(current)
    return chunks


def render_blocks(markdown: str) -> list[Block]:
    """The blocks of `markdown` (never raises; see the module doc)."""
    source, tokens = markdown_source.parse(_PARSER, markdown)
    if tokens is None:
        return [TextBlock(tuple(Line((Run(line),)) for line in source.split("\n")))]
    writer = _Writer()
    writer.blocks(tokens)
    return writer.out


# ---- blocks ---------------------------------------------------------------------------------


@attrs.define
class _Writer:
    """Walks markdown-it's block tokens once and collects blocks."""

    out: list[Block] = attrs.Factory(list)
    lists: ListStack = attrs.Factory(ListStack)
    quotes: int = 0
    marker: str | None = None  # the list marker the next line of text starts with
    heading: bool = False
    row: list[list[Run]] | None = None  # the cells of the table row being read
    header: bool = False
    table: list[Line] = attrs.Factory(list)
    after_list: bool = False  # the last block added sits in a list

    def blocks(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            kind = token.type
            if kind in ("bullet_list_open", "ordered_list_open"):
                self.after_list = self.after_list and bool(self.lists)  # a new list: a blank line
                self.lists.open(token)
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.close()
            elif kind == "list_item_open":
                self.marker = self.lists.item_marker(BULLET)
            elif kind in ("blockquote_open", "blockquote_close"):
                self.quotes += 1 if kind == "blockquote_open" else -1
            elif kind in ("heading_open", "heading_close"):
                self.heading = kind == "heading_open"
            elif kind == "inline":
                self.inline(token.children or ())
            elif kind in ("fence", "code_block"):
                self.code(token.content)
            elif kind == "hr":
                self.text([Run(THEMATIC_BREAK)])
            else:
                self.table_token(kind)

    def table_token(self, kind: str) -> None:
        if kind == "thead_open":
            self.header = True
        elif kind == "thead_close":
            self.header = False
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.row is not None:
            runs = [*itertools.chain.from_iterable(_joined(self.row, CELL_SEPARATOR))]
            self.table.append(self.line(runs))
            self.row = None
        elif kind == "table_close":
            self.add(TextBlock(tuple(self.table), self.joiner()))
            self.table = []

    def inline(self, children: Sequence[Token]) -> None:
        base = frozenset({BOLD}) if self.heading or (self.row is not None and self.header) else None
        runs = _inline(children, base or frozenset())
        if self.row is not None:
            self.row.append([Run(run.text.replace("\n", " "), run.styles, run.url) for run in runs])
        else:
            self.text(runs)

    def text(self, runs: list[Run]) -> None:
        if not "".join(run.text for run in runs).strip():
            return
        lines: list[list[Run]] = [[]]
        for run in runs:
            for index, part in enumerate(run.text.split("\n")):
                if index:
                    lines.append([])
                if part:
                    lines[-1].append(Run(part, run.styles, run.url))
        first, *rest = lines
        self.add(
            TextBlock(
                (self.line(first), *(self.line(line, first=False) for line in rest)),
                self.joiner(),
            )
        )

    def line(self, runs: list[Run], *, first: bool = True) -> Line:
        """A line with the prefix its place in quotes and lists gives it."""
        quote = "> " * self.quotes
        indent = "  " * max(len(self.lists) - 1, 0)
        marker = self.marker if first else None
        if marker is not None:
            self.marker = None
        hanging = quote + indent + ("  " if self.lists else "")
        prefix = quote + indent + marker if marker is not None else hanging
        return Line(tuple(runs), prefix, hanging)

    def code(self, content: str) -> None:
        code = content.rstrip("\n")
        if code.strip():
            self.marker = None
            self.add(CodeBlock(code, self.joiner()))

    def joiner(self) -> str:
        """One line break between blocks of a list, else a blank line."""
        return "\n" if self.lists and self.after_list else "\n\n"

    def add(self, block: Block) -> None:
        self.out.append(block)
        self.after_list = bool(self.lists)


def _joined(cells: list[list[Run]], separator: str) -> Iterator[list[Run]]:
    for index, cell in enumerate(cells):
        if index:
            yield [Run(separator)]
        yield cell


def _inline(children: Sequence[Token], base: frozenset[str]) -> list[Run]:
    """One paragraph's inline tokens as runs; line breaks are "\\n" in the text."""
    runs: list[Run] = []
    active: list[str] = []
    links: list[tuple[int, str]] = []  # (first run of the label, href)

    def styles() -> frozenset[str]:
        return base | frozenset(active)

    for token in children:
        kind = token.type
        if kind in ("softbreak", "hardbreak"):
            runs.append(Run("\n"))
        elif kind == "code_inline":
            runs.append(Run(token.content, styles() | {CODE}))
        elif kind.endswith("_open") and kind in _INLINE_STYLES:
            active.append(_INLINE_STYLES[kind])
        elif kind.endswith("_close") and kind in _INLINE_STYLES:
            active.remove(_INLINE_STYLES[kind])
        elif kind == "link_open":
            links.append((len(runs), str(token.attrGet("href") or "")))
        elif kind == "link_close" and links:
            start, href = links.pop()
            label = runs[start:]
            del runs[start:]
            runs.extend(_link(label, href))
        elif kind == "image":
            alt = [Run(token.content, styles())] if token.content else []
            runs.extend(_link(alt, str(token.attrGet("src") or "")))
        else:  # text, and anything else markdown-it reads as text
            runs.append(Run(token.content, styles()))
    return runs


def _link(label: list[Run], href: str) -> list[Run]:
    """`label (url)`, or the url alone when there is no label or it is the url."""
    shown = _PARSER.normalizeLinkText(href)
    text = "".join(run.text for run in label)
    if not shown:
        return label
    if not text.strip() or text in (shown, shown.removeprefix("mailto:")):
        return [Run(shown, url=True)]
    return [*label, Run(" ("), Run(shown, url=True), Run(")")]


# ---- writing a line -------------------------------------------------------------------------


@attrs.frozen
class _Mark:
    """An opening or closing marker of `style`, written only if WhatsApp would read it."""

    style: str
    opening: bool


def _boundary(char: str | None) -> bool:
    """Whether a marker next to `char` (None: the line's edge) may act."""
    if char is None or char.isspace():
        return True
    return char not in MARKER_CHARS and unicodedata.category(char)[0] in "PS"


def write_line(runs: Sequence[Run]) -> str:
    """`runs` as one line of WhatsApp text (see the module doc for the rules)."""
    items: list[_Mark | Run] = []
    pairs: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []  # open styles, outer first, and their item index
    for run in _merged(runs):
        keep = 0
        while keep < len(stack) and stack[keep][0] in run.styles and stack[keep][0] != CODE:
            keep += 1
        for style, opened in reversed(stack[keep:]):
            pairs.append((opened, len(items)))
            items.append(_Mark(style, opening=False))
        del stack[keep:]
        open_styles = {style for style, _ in stack}
        for style in _NESTING:
            if style in run.styles and style not in open_styles:
                stack.append((style, len(items)))
                items.append(_Mark(style, opening=True))
        items.append(run)
    for style, opened in reversed(stack):
        pairs.append((opened, len(items)))
        items.append(_Mark(style, opening=False))
    return _neutralized(_marked(items, pairs))


def _merged(runs: Sequence[Run]) -> Iterator[Run]:
    """`runs` without empty ones, neighbours of the same kind joined."""
    pending: Run | None = None
    for run in runs:
        if not run.text:
            continue
        if pending is not None and (pending.styles, pending.url) == (run.styles, run.url):
            pending = Run(pending.text + run.text, run.styles, run.url)
            continue
        if pending is not None:
            yield pending
        pending = run
    if pending is not None:
        yield pending


def _marked(items: list[_Mark | Run], pairs: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The line's parts and whether each is literal text (to be neutralized):
    markers of the pairs WhatsApp would read, dropped otherwise."""
    before: list[str | None] = []  # the last text character before each item
    last: str | None = None
    for item in items:
        before.append(last)
        if isinstance(item, Run):
            last = item.text[-1]
    after: list[str | None] = [None] * len(items)  # the first text character after each
    following: str | None = None
    for index in range(len(items) - 1, -1, -1):
        after[index] = following
        item = items[index]
        if isinstance(item, Run):
            following = item.text[0]
    written: dict[int, str] = {}
    code: set[int] = set()
    for opened, closed in pairs:
        inner = [item for item in items[opened + 1 : closed] if isinstance(item, Run)]
        inside = "".join(run.text for run in inner)
        mark = items[opened]
        assert isinstance(mark, _Mark)
        if not inside or inside[0].isspace() or inside[-1].isspace():
            continue
        if not (_boundary(before[opened]) and _boundary(after[closed])):
            continue
        if mark.style == CODE:
            fence = FENCE if "`" in inside else "`"
            written[opened] = written[closed] = fence
            code.add(opened + 1)
        else:
            written[opened] = written[closed] = _MARKS[mark.style]
    parts: list[tuple[str, bool]] = []
    for index, item in enumerate(items):
        if isinstance(item, _Mark):
            if index in written:
                parts.append((written[index], False))
        elif index in code:
            parts.append((_code_text(item.text, inline=True), False))
        else:
            parts.append((item.text, not item.url))
    return parts


def _code_text(code: str, *, inline: bool = False) -> str:
    """`code` with every run of three backticks broken by a word joiner; in
    an inline span, also kept off the fence at either end."""
    broken = code.replace(FENCE, "``" + WORD_JOINER + "`")
    if inline and "`" in code:
        if broken.startswith("`"):
            broken = WORD_JOINER + broken
        if broken.endswith("`"):
            broken += WORD_JOINER
    return broken


def _neutralized(parts: list[tuple[str, bool]]) -> str:
    """The parts joined, each literal marker character that could pair with
    another one of the line (open with one able to close after it, or close
    one able to open before it) wrapped in word joiners."""
    text = "".join(part for part, _ in parts)
    if not MARKER_CHARS.intersection(text):
        return text
    first_opener: dict[str, int] = {}
    last_closer: dict[str, int] = {}
    for position, char in enumerate(text):
        if char in MARKER_CHARS:
            opens, closes = _roles(text, position)
            if opens:
                first_opener.setdefault(char, position)
            if closes:
                last_closer[char] = position
    out: list[str] = []
    position = 0
    for part, literal in parts:
        if not literal or not MARKER_CHARS.intersection(part):
            out.append(part)
            position += len(part)
            continue
        for char in part:
            opens, closes = _roles(text, position) if char in MARKER_CHARS else (False, False)
            if (opens and last_closer.get(char, -1) > position + 1) or (
                closes and first_opener.get(char, position) < position - 1
            ):  # a span holds at least one character
                out.append(WORD_JOINER + char + WORD_JOINER)
            else:
                out.append(char)
            position += 1
    return "".join(out)


def _roles(text: str, position: int) -> tuple[bool, bool]:
    """Whether the marker character at `position` could open, and close, a span."""
    previous = text[position - 1] if position else None
    following = text[position + 1] if position + 1 < len(text) else None
    opens = _boundary_or_marker(previous) and following is not None and not following.isspace()
    closes = previous is not None and not previous.isspace() and _boundary_or_marker(following)
    return opens, closes


def _boundary_or_marker(char: str | None) -> bool:
    return _boundary(char) or char in MARKER_CHARS


# ---- cutting --------------------------------------------------------------------------------


def _pieces(blocks: Sequence[Block], limit: int) -> Iterator[_Piece]:
    """Every block whole if it fits, else cut into pieces that do."""
    for block in blocks:
        if isinstance(block, CodeBlock):
            yield from _code_pieces(block, limit)
            continue
        lines = [line.prefix + write_line(line.runs) for line in block.lines]
        whole = "\n".join(lines)
        if utf16_units(whole) <= limit:
            yield _Piece(whole, block.joiner + whole)
            continue
        for index, (line, written) in enumerate(zip(block.lines, lines, strict=True)):
            joiner = block.joiner if index == 0 else "\n"
            if utf16_units(written) <= limit:
                yield _Piece(written, joiner + written)
            else:
                yield from _line_pieces(line, joiner, limit)


def _code_pieces(block: CodeBlock, limit: int) -> Iterator[_Piece]:
    """The code block fenced whole, or cut at line breaks (else hard), each piece fenced."""
    code = _code_text(block.code)
    whole = f"{FENCE}\n{code}\n{FENCE}"
    if utf16_units(whole) <= limit:
        yield _Piece(whole, block.joiner + whole)
        return
    room = limit - 2 * (len(FENCE) + 1)
    joiner = block.joiner
    current: list[str] = []
    size = 0
    for line in _hard_cut(code.split("\n"), room):
        units = utf16_units(line)
        if current and size + 1 + units > room:
            text = f"{FENCE}\n" + "\n".join(current) + f"\n{FENCE}"
            yield _Piece(text, joiner + text)
            joiner, current, size = "\n", [], 0
        size += units + (1 if current else 0)
        current.append(line)
    text = f"{FENCE}\n" + "\n".join(current) + f"\n{FENCE}"
    yield _Piece(text, joiner + text)


def _hard_cut(lines: list[str], room: int) -> Iterator[str]:
    """`lines`, each longer than `room` UTF-16 units cut into pieces that fit."""
    for line in lines:
        while utf16_units(line) > room:
            end, units = 0, 0
            while units + utf16_units(line[end]) <= room:
                units += utf16_units(line[end])
                end += 1
            yield line[:end]
            line = line[end:]
        yield line


def _line_pieces(line: Line, joiner: str, limit: int) -> Iterator[_Piece]:
    """A line too long for one message: cut at its last space that fits
    (dropped), else hard; every piece written on its own, a piece that
    starts a message with the line's prefix (or none when not even one code
    point would fit beside it)."""
    cutter = _Cutter(line.runs, limit)
    start, lead, after = 0, line.prefix, joiner + line.prefix
    while start < cutter.length:
        if not cutter.fits(start, start + 1, lead):
            lead = ""
        end, resume = cutter.cut(start, lead)
        body = write_line(cutter.slice(start, end))
        yield _Piece(lead + body, after + body)
        after = cutter.text[end:resume]
        start, lead = resume, line.hanging


@attrs.frozen
class _Cutter:
    """Finds where to cut one line's runs so that the written piece fits."""

    runs: tuple[Run, ...]
    limit: int
    text: str = attrs.field(init=False)
    starts: list[int] = attrs.field(init=False)  # where each run starts in `text`
    spaces: list[int] = attrs.field(init=False)  # where each whitespace character is

    def __attrs_post_init__(self) -> None:
        text = "".join(run.text for run in self.runs)
        object.__setattr__(self, "text", text)
        starts = [0, *itertools.accumulate(len(run.text) for run in self.runs)]
        object.__setattr__(self, "starts", starts)
        spaces = [index for index, char in enumerate(text) if char.isspace()]
        object.__setattr__(self, "spaces", spaces)

    @property
    def length(self) -> int:
        return len(self.text)

    def fits(self, start: int, end: int, lead: str) -> bool:
        """Whether text [start, end) written after `lead` fits the limit."""
        return utf16_units(lead + write_line(self.slice(start, end))) <= self.limit

    def cut(self, start: int, lead: str) -> tuple[int, int]:
        """Where the piece from `start` ends, and where the next one starts:
        the end of the line, else the last space that fits (the whitespace
        run skipped), else the longest hard cut that fits (at least one
        code point)."""
        text = self.text
        reach = start + self.limit  # a code point is at least one unit
        if reach >= len(text) and self.fits(start, len(text), lead):
            return len(text), len(text)
        reach = min(reach, len(text))
        word = start  # a piece holds at least one word
        while word < reach and text[word].isspace():
            word += 1
        candidates = self.spaces[
            bisect.bisect_right(self.spaces, word) : bisect.bisect_right(self.spaces, reach)
        ]
        found = _last_true(candidates, lambda end: self.fits(start, end, lead))
        if found is not None:
            resume = found
            while resume < len(text) and text[resume].isspace():
                resume += 1
            return found, resume
        hard = _last_true(range(start + 1, reach + 1), lambda end: self.fits(start, end, lead))
        end = start + 1 if hard is None else hard
        return end, end

    def slice(self, start: int, end: int) -> list[Run]:
        """The runs covering text positions [start, end), cut to them."""
        pieces: list[Run] = []
        for index in range(max(bisect.bisect_right(self.starts, start) - 1, 0), len(self.runs)):
            low, high = self.starts[index], self.starts[index + 1]
            if low >= end:
                break
            run = self.runs[index]
            part = run.text[max(start, low) - low : min(end, high) - low]
            pieces.append(Run(part, run.styles, run.url))
        return pieces


def _last_true(positions: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The last of sorted `positions` that `fits`, by bisection (a written
    piece grows with its text), or None."""
    low, high = 0, len(positions) - 1
    found: int | None = None
    if positions and fits(positions[-1]):
        return positions[-1]
    while low <= high:
        middle = (low + high) // 2
        if fits(positions[middle]):
            found, low = positions[middle], middle + 1
        else:
            high = middle - 1
    return found
