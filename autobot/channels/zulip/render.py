"""The model's text as Zulip messages: no pings, balanced code fences, sized chunks (pure).

Zulip renders its own Markdown dialect, which is close to what models write,
so replies are sent as written, except:

- **No one can be pinged.** Every `@` that is followed by `*` or `_*` gets
  a zero-width space after it, which breaks all of Zulip's mention syntaxes:
  user mentions `@**Name**` and `@**Name|42**`, wildcards `@**all**`,
  `@**everyone**`, `@**stream**`, `@**channel**`, `@**topic**`, user
  groups `@*group*`, and their silent forms `@_**...**`, `@_*...*`. This is
  done everywhere, code included (where a mention would not ping): a
  guess about where code ends that differed from Zulip's would let a ping
  through. The text still reads the same.
- Lone surrogates become U+FFFD and NUL characters are dropped (Zulip
  refuses a message holding one); line breaks become `\n` (as Zulip's
  Markdown reads them, so both agree on where lines and fences are).

`split_message(text, limit)` cuts the result into messages of at most
`limit` code points (Zulip's `max_message_length` counts code points). A
cut prefers, latest first within what fits: a paragraph boundary (a blank
line) or the start of a fenced block outside any block, then any line
boundary; a line longer than the room left is cut at its last whitespace,
else hard. Code fences are kept balanced: a cut inside fenced blocks (code,
`quote`, `spoiler`, `math`) closes them at the end of the chunk and opens
them again, with their opening lines, at the start of the next; a block the
text leaves open is closed at its end.
Fences follow Zulip's rules (`zerver/lib/markdown/fenced_code.py`): an
opening line starts at its first column with three or more backticks or
tildes and an optional language (after spaces or tabs); a block ends at a line that is exactly
its fence (trailing spaces aside); quote and spoiler blocks nest fences,
code blocks do not. When the fence lines to repeat would take more than
half the limit (absurdly long fences or deep nesting), that cut repeats
none of them. Chunks that hold only whitespace are left out, so an empty
or blank text gives no message at all.

`markdown_literal(text)` is for text the model or a server chose that a
message shows inside Markdown of the bot's own, a file name in
`[name](/user_uploads/...)` above all: on one line, nobody pinged, and every
character Zulip's Markdown gives a meaning (Python-Markdown's escapable
set: link brackets, emphasis, code, `#` of channel links...) escaped with a
backslash, so it shows as written and can neither end the link nor start
syntax of its own.
"""

from __future__ import annotations

import re

import attrs

from autobot.channels.utf16 import valid_utf16

MIN_LIMIT = 16  # code points: room for a fence pair and some text
ZERO_WIDTH_SPACE = "\u200b"

_PING = re.compile(r"@(?=_?\*)")
_FENCE = re.compile(
    r"(?P<fence>~{3,}|`{3,})[ \t]*"
    r"(?:\{?\.?(?P<lang>[a-zA-Z0-9_+\-./#]+)[ \t]*(?P<header>[^ \t~`][^~`]*)?\}?)?"
)
_NESTING = frozenset({"quote", "quoted", "spoiler"})  # blocks whose content holds fences
_WHITESPACE_RUN = re.compile(r"\s+")
# Python-Markdown's ESCAPED_CHARS, which Zulip's Markdown keeps: a backslash
# before any of them shows the character alone, as text.
_ESCAPABLE = re.compile(r"([\\`*_{}\[\]()>#+\-.!])")
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def neutralise_mentions(text: str) -> str:
    """`text` with a zero-width space after every `@` that starts a mention
    (see the module docstring); the same text when there is none."""
    return _PING.sub("@" + ZERO_WIDTH_SPACE, text)


def markdown_literal(text: str) -> str:
    """`text` to show as written inside the bot's Markdown (see the module
    docstring): control characters and line breaks made one space, lone
    surrogates U+FFFD, mentions neutralised, Markdown characters escaped."""
    one_line = _LINE_BREAKING.sub(" ", valid_utf16(text))
    return _ESCAPABLE.sub(r"\\\1", neutralise_mentions(one_line))


def prepare_reply(text: str, limit: int) -> list[str]:
    """The messages that carry the model's `text`: cleaned, neutralised,
    split at `limit` code points (see the module docstring)."""
    cleaned = valid_utf16(text).replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return split_message(neutralise_mentions(cleaned), limit)


@attrs.frozen
class _Fence:
    """An open fenced block: its fence (the closing line), the line that
    opens it again, and whether its content may open fences of its own."""

    fence: str
    opener: str
    nests: bool


def fence_states(lines: list[str]) -> list[tuple[_Fence, ...]]:
    """`states[i]`: the fenced blocks open before line `i` (outermost first),
    for `i` from 0 to `len(lines)`."""
    stack: list[_Fence] = []
    states: list[tuple[_Fence, ...]] = [()]
    for line in lines:
        if stack and line.rstrip() == stack[-1].fence:
            stack.pop()
        elif not stack or stack[-1].nests:
            opened = _FENCE.fullmatch(line)
            if opened is not None:
                lang = (opened["lang"] or "").lower()
                stack.append(_Fence(opened["fence"], line.rstrip(), lang in _NESTING))
        states.append(tuple(stack))
    return states


def split_message(text: str, limit: int) -> list[str]:
    """`text` cut into chunks of at most `limit` code points (see the module
    docstring). Raises ValueError when `limit` is below `MIN_LIMIT`."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT} code points, got {limit}")
    return _Splitter(text.split("\n"), limit).chunks()


@attrs.define
class _Splitter:
    """The cutting of one text (see `split_message`); `states` are its
    fence states (`fence_states`)."""

    lines: list[str]
    limit: int
    states: list[tuple[_Fence, ...]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.states = fence_states(self.lines)

    def chunks(self) -> list[str]:
        found: list[str] = []
        line, column = 0, 0
        while line < len(self.lines):
            if column == 0 and not self.states[line] and not self.lines[line].strip():
                line += 1  # blank lines between chunks carry nothing
                continue
            chunk, line, column = self._next(line, column)
            if chunk is not None:
                found.append(chunk)
        return found

    def _next(self, line: int, column: int) -> tuple[str | None, int, int]:
        """The chunk starting at `column` of `line`, and where the next one starts."""
        opening = self._opening(self.states[line])
        first = self.lines[line][column:]
        fits: int | None = None  # the latest line the chunk may end before
        good: int | None = None  # the latest such line that is a good boundary
        size = _joined_size([*opening, first])
        for end in range(line + 1, len(self.lines) + 1):
            if end > line + 1:
                size += 1 + len(self.lines[end - 1])
            if size > self.limit:
                break
            if size + self._closing_size(self.states[end]) <= self.limit:
                fits = end
                if end == len(self.lines) or self._good_boundary(end):
                    good = end
        chosen = good if good is not None else fits
        if chosen is None:
            return self._cut_line(line, column)
        body = [first, *self.lines[line + 1 : chosen]]
        return self._chunk(opening, body, self.states[chosen]), chosen, 0

    def _cut_line(self, line: int, column: int) -> tuple[str | None, int, int]:
        """The next piece of a line longer than the room left (cut at its
        last whitespace that fits, else hard), and where the next one starts."""
        state = self.states[line]
        opening = self._opening(state)
        room = self.limit - self._closing_size(state)
        if opening:
            room -= _joined_size(opening) + 1
        rest = self.lines[line][column:]
        piece = rest[:room]
        consumed = len(piece)
        if len(rest) > room:
            gaps = list(_WHITESPACE_RUN.finditer(piece))
            if gaps and gaps[-1].start() > 0:
                piece, consumed = piece[: gaps[-1].start()], gaps[-1].end()
        return self._chunk(opening, [piece], state), line, column + consumed

    def _good_boundary(self, end: int) -> bool:
        """Whether a chunk ending before line `end` ends at a paragraph
        boundary or before a fenced block, outside any block."""
        if self.states[end]:
            return False
        after, before = self.lines[end], self.lines[end - 1]
        return not after.strip() or not before.strip() or _FENCE.fullmatch(after) is not None

    def _repeats(self, state: tuple[_Fence, ...]) -> bool:
        """Whether the blocks open at a cut are closed and opened again:
        when their fence lines take at most half the limit."""
        size = sum(2 + len(fence.fence) + len(fence.opener) for fence in state)
        return size <= self.limit // 2

    def _opening(self, state: tuple[_Fence, ...]) -> list[str]:
        return [fence.opener for fence in state] if self._repeats(state) else []

    def _closing_size(self, state: tuple[_Fence, ...]) -> int:
        return sum(1 + len(fence.fence) for fence in state) if self._repeats(state) else 0

    def _chunk(self, opening: list[str], body: list[str], state: tuple[_Fence, ...]) -> str | None:
        """The chunk text, or None when its body is blank."""
        if not "".join(body).strip():
            return None
        closing = [fence.fence for fence in reversed(state)] if self._repeats(state) else []
        return "\n".join([*opening, *body, *closing]).rstrip()


def _joined_size(lines: list[str]) -> int:
    return sum(len(line) for line in lines) + max(len(lines) - 1, 0)
