"""Telegram's MarkdownV2 parse mode: markup in, plain text and entities out.

`parse_markdown_v2(markup)` follows the real parser's rules: *bold*,
_italic_, __underline__, ~strikethrough~, ||spoiler||, `code`,
```language\\npre```, [text](url) (tg://user?id=N is a text_mention),
![emoji](tg://emoji?id=N), and > at the start of a line for a blockquote
(consecutive > lines are one). Every character of _*[]()~`>#+-=|{}.! outside
an entity's syntax must be escaped with a backslash; inside code and pre only `
and \\ must be. Any ASCII character may be escaped. The expandable blockquote
syntax (a blockquote ending in ||) is not implemented.

Problems raise `EntityError` with the real API's wording ("Character '.' is
reserved and must be escaped with the preceding '\\'", "Can't find end of
Bold entity at byte offset 0"...), byte offsets in UTF-8.
"""

from __future__ import annotations

import re

import attrs

from autobot.testing.telegram.entities import (
    SPACES,
    Entity,
    EntityError,
    FormattedText,
    link_entity,
    utf16_len,
)

RESERVED = frozenset("_*[]()~`>#+-=|{}.!\n")
VERBATIM = ("Code", "Pre")  # inside these, only ` is reserved
CLOSERS = {  # how each open entity ends
    "Bold": "*",
    "Italic": "_",
    "Underline": "__",
    "Strikethrough": "~",
    "Spoiler": "||",
    "Code": "`",
    "Pre": "```",
    "TextUrl": "]",
    "CustomEmoji": "]",
}
TYPES = {
    "Bold": "bold",
    "Italic": "italic",
    "Underline": "underline",
    "Strikethrough": "strikethrough",
    "Spoiler": "spoiler",
    "Code": "code",
    "Pre": "pre",
    "BlockQuote": "blockquote",
}
CUSTOM_EMOJI_URL = re.compile(r"tg://emoji\?id=([0-9]{1,19})")


@attrs.define
class _Open:
    kind: str  # the real parser's name for it: Bold, TextUrl, BlockQuote...
    offset: int  # UTF-16 offset in the output
    byte_offset: int  # in the markup, for error messages
    text_start: int  # index in the output list
    language: str | None = None


def parse_markdown_v2(markup: str) -> FormattedText:
    """The text and entities `markup` stands for; raises `EntityError`."""
    return _Parser(markup).run()


@attrs.define
class _Parser:
    markup: str
    position: int = 0
    output: list[str] = attrs.field(factory=list)
    offset: int = 0
    stack: list[_Open] = attrs.field(factory=list)
    entities: list[Entity] = attrs.field(factory=list)
    line_start: bool = True  # a > here starts (or continues) a blockquote
    in_blockquote: bool = False

    def run(self) -> FormattedText:
        while self.position < len(self.markup):
            self._step()
        if self.in_blockquote and self.stack and self.stack[-1].kind == "BlockQuote":
            self._close(self.stack.pop())
        if self.stack:
            opened = self.stack[-1]
            raise EntityError(
                f"Can't find end of {opened.kind} entity at byte offset {opened.byte_offset}"
            )
        ordered = sorted(self.entities, key=lambda entity: (entity.offset, -entity.length))
        return FormattedText(text="".join(self.output), entities=tuple(ordered))

    def _ahead(self, count: int = 1) -> str:
        return self.markup[self.position + count : self.position + count + 1]

    def _byte_offset(self, index: int) -> int:
        return len(self.markup[:index].encode("utf-8", "surrogatepass"))

    def _emit(self, text: str) -> None:
        self.output.append(text)
        self.offset += utf16_len(text)

    def _step(self) -> None:
        char = self.markup[self.position]
        if char == "\\" and self._ahead() and 0 < ord(self._ahead()) <= 126:
            escaped = self._ahead()
            self._emit(escaped)
            if escaped != "\r":
                self.line_start = escaped == "\n"
            self.position += 2
            return
        verbatim = bool(self.stack) and self.stack[-1].kind in VERBATIM
        if char not in ("`" if verbatim else RESERVED):
            self._emit(char)
            if char != "\r":
                self.line_start = False
            self.position += 1
            return
        if self._ends_entity(char):
            self._end(char)
        else:
            self._begin(char)

    def _ends_entity(self, char: str) -> bool:
        if not self.stack:
            return False
        if self.in_blockquote and char == "\n" and self._ahead() != ">":
            return True
        closer = CLOSERS.get(self.stack[-1].kind)
        if closer is None:  # a blockquote ends only at a line without >
            return False
        if self.stack[-1].kind == "Italic" and self._ahead() == "_":
            return False  # "__" inside italic opens an underline
        return self.markup.startswith(closer, self.position)

    def _reserved(self, char: str) -> EntityError:
        return EntityError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def _begin(self, char: str) -> None:
        begin = self.position
        kind: str
        language = None
        if char == "\n":
            self._emit("\n")
            self.line_start = True
            self.position += 1
            return
        if char == ">":
            if not self.line_start:
                raise self._reserved(char)
            self.position += 1
            if self.in_blockquote:
                return  # the next line of the same blockquote
            self.in_blockquote = True
            kind = "BlockQuote"
        elif char in "_|" and self._ahead() == char:
            kind = "Underline" if char == "_" else "Spoiler"
            self.position += 2
        elif char in "_*~[":
            kind = {"_": "Italic", "*": "Bold", "~": "Strikethrough", "[": "TextUrl"}[char]
            self.position += 1
        elif char == "!" and self._ahead() == "[":
            kind = "CustomEmoji"
            self.position += 2
        elif self.markup.startswith("```", self.position):
            kind = "Pre"
            language = self._pre_opening()
        elif char == "`":
            kind = "Code"
            self.position += 1
        else:
            raise self._reserved(char)
        self.stack.append(
            _Open(kind, self.offset, self._byte_offset(begin), len(self.output), language)
        )

    def _pre_opening(self) -> str | None:
        """Skip ``` and an optional language, then one line break; the language."""
        self.position += 3
        end = self.position
        while end < len(self.markup) and self.markup[end] not in SPACES and self.markup[end] != "`":
            end += 1
        language = None
        if end != self.position and end < len(self.markup) and self.markup[end] != "`":
            language = self.markup[self.position : end]
            self.position = end
        if self.markup[self.position : self.position + 2] in ("\r\n", "\n\r"):
            self.position += 2
        elif self._ahead(0) in ("\n", "\r"):
            self.position += 1
        return language

    def _end(self, char: str) -> None:
        opened = self.stack.pop()
        if char == "\n" and opened.kind != "BlockQuote":
            raise EntityError(
                f"Can't find end of {opened.kind} entity at byte offset {opened.byte_offset}"
            )
        if opened.kind == "BlockQuote":
            self.in_blockquote = False
            self._emit("\n")
            self.line_start = True
            self.position += 1
            self._close(opened)
            return
        self.position += len(CLOSERS[opened.kind])
        if opened.kind == "TextUrl":
            self._close_link(opened)
        elif opened.kind == "CustomEmoji":
            self._close_custom_emoji(opened)
        elif self.offset > opened.offset:
            self._close(opened)

    def _close(self, opened: _Open) -> None:
        if self.offset > opened.offset:
            self.entities.append(
                Entity(
                    type=TYPES[opened.kind],
                    offset=opened.offset,
                    length=self.offset - opened.offset,
                    language=opened.language,
                )
            )

    def _url(self) -> str | None:
        """The (url) right after a link's ], escapes resolved; None if there is none."""
        if self._ahead(0) != "(":
            return None
        self.position += 1
        begin = self.position
        url: list[str] = []
        while self._ahead(0) and self._ahead(0) != ")":
            if self._ahead(0) == "\\" and self._ahead() and 0 < ord(self._ahead()) <= 126:
                url.append(self._ahead())
                self.position += 2
            else:
                url.append(self._ahead(0))
                self.position += 1
        if self._ahead(0) != ")":
            raise EntityError(f"Can't find end of a URL at byte offset {self._byte_offset(begin)}")
        self.position += 1
        return "".join(url)

    def _close_link(self, opened: _Open) -> None:
        url = self._url()
        if url is None:
            url = "".join(self.output[opened.text_start :])
        entity = link_entity(url, opened.offset, self.offset - opened.offset)
        if entity is not None and self.offset > opened.offset:
            self.entities.append(entity)

    def _close_custom_emoji(self, opened: _Open) -> None:
        url = self._url()
        if url is None:
            raise EntityError("The entity must contain a tg://emoji or tg://time URL")
        emoji = CUSTOM_EMOJI_URL.fullmatch(url)
        if emoji is None:
            raise EntityError("Invalid tg://emoji or tg://time URL specified")
        if self.offset > opened.offset:
            self.entities.append(
                Entity(
                    type="custom_emoji",
                    offset=opened.offset,
                    length=self.offset - opened.offset,
                    custom_emoji_id=emoji.group(1),
                )
            )
