"""Telegram's HTML parse mode: markup in, plain text and entities out.

`parse_html(markup)` follows the rules of the real parser (tdlib's): the tags
b strong i em u ins s strike del tg-spoiler a code pre blockquote, and span
only with class="tg-spoiler"; attributes href (a), class="language-x" (code),
expandable (blockquote); the entities &lt; &gt; &amp; &quot; and numeric
references; an end tag must close the innermost open tag (`</>` closes
whatever is innermost). A `&` that starts no entity and a bare `>` are kept
as text, as the real parser keeps them; a `<` always starts a tag, so an
unescaped "a < b" is refused. Formatting nested inside code or pre is dropped
(the real API drops it too); `<pre><code class="language-x">` becomes one
pre entity with that language. An `<a>` whose href is `tg://user?id=N` is a
text_mention; an href that is no URL makes no entity.

Problems raise `EntityError` with the real API's wording, byte offsets
counted in UTF-8 as it counts them.
"""

from __future__ import annotations

import itertools
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

SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
}
TAGS = frozenset({*SIMPLE_TAGS, "a", "code", "pre", "blockquote", "span"})
NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
NUMERIC_REFERENCE = re.compile(r"&#(?:x([0-9A-Fa-f]*)|([0-9]*));?")
NAMED_REFERENCE = re.compile(r"&([A-Za-z]*);?")
NAME_TOKEN = re.compile(r"[A-Za-z0-9.-]*")


@attrs.define
class _OpenTag:
    name: str
    argument: str  # href, code language, span class, "1" for expandable blockquote
    offset: int  # UTF-16 offset in the output where the tag opened
    text_start: int  # index in the output list where the tag opened
    order: int  # opening order, to keep outer entities first on equal spans


def parse_html(markup: str) -> FormattedText:
    """The text and entities `markup` stands for; raises `EntityError`."""
    return _Parser(markup).run()


@attrs.define
class _Parser:
    markup: str
    position: int = 0
    output: list[str] = attrs.field(factory=list)
    offset: int = 0  # UTF-16 length of the output so far
    stack: list[_OpenTag] = attrs.field(factory=list)
    found: list[tuple[int, Entity]] = attrs.field(factory=list)
    order: itertools.count[int] = attrs.field(factory=itertools.count)

    def run(self) -> FormattedText:
        markup = self.markup
        while self.position < len(markup):
            char = markup[self.position]
            if char == "&" and self._reference():
                continue
            if char != "<":
                self._emit(char)
                self.position += 1
            elif markup.startswith("</", self.position):
                self._end_tag()
            else:
                self._start_tag()
        if self.stack:
            raise EntityError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            )
        text = "".join(self.output)
        if any(0xD800 <= ord(char) <= 0xDFFF for char in text):
            raise EntityError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        return FormattedText(text=text, entities=_without_nested_in_code(self.found))

    def _emit(self, text: str) -> None:
        self.output.append(text)
        self.offset += utf16_len(text)

    def _byte_offset(self, index: int) -> int:
        return len(self.markup[:index].encode("utf-8", "surrogatepass"))

    def _reference(self) -> bool:
        """Decode the character reference at the cursor; False if it is none."""
        decoded, end = decode_reference(self.markup, self.position)
        if decoded is None:
            return False
        self._emit(decoded)
        self.position = end
        return True

    def _skip_spaces(self) -> None:
        while self.position < len(self.markup) and self.markup[self.position] in SPACES:
            self.position += 1

    def _at(self) -> str:
        """The character at the cursor, or "" at the end of the markup."""
        return self.markup[self.position] if self.position < len(self.markup) else ""

    def _start_tag(self) -> None:
        begin = self.position
        at = self._byte_offset(begin)
        self.position += 1
        while self._at() and self._at() not in SPACES and self._at() != ">":
            self.position += 1
        if not self._at():
            raise EntityError(f"Unclosed start tag at byte offset {at}")
        name = self.markup[begin + 1 : self.position].lower()
        if name not in TAGS:
            raise EntityError(f'Unsupported start tag "{name}" at byte offset {at}')
        argument = self._attributes(name, at)
        self.position += 1  # the ">"
        if name == "span" and argument != "tg-spoiler":
            raise EntityError(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        self.stack.append(_OpenTag(name, argument, self.offset, len(self.output), next(self.order)))

    def _attributes(self, tag: str, at: int) -> str:
        """Read the attributes up to the closing ">"; the one that matters for `tag`."""
        argument = ""
        while True:
            self._skip_spaces()
            if self._at() == ">":
                return argument
            begin = self.position
            while self._at() and self._at() not in SPACES and self._at() not in "=>/\"'":
                self.position += 1
            attribute = self.markup[begin : self.position]
            if not attribute:
                raise EntityError(f'Empty attribute name in the tag "{tag}" at byte offset {at}')
            self._skip_spaces()
            if self._at() != "=":
                if not self._at():
                    raise EntityError(f'Unclosed start tag "{tag}" at byte offset {at}')
                if tag == "blockquote" and attribute == "expandable":
                    argument = "1"
                continue
            self.position += 1
            self._skip_spaces()
            if not self._at():
                raise EntityError(f'Unclosed start tag "{tag}" at byte offset {at}')
            value = self._attribute_value()
            if not self._at():
                raise EntityError(f"Unclosed start tag at byte offset {at}")
            argument = _argument(tag, attribute, value, argument)

    def _attribute_value(self) -> str:
        quote = self._at()
        if quote not in "\"'":
            token = NAME_TOKEN.match(self.markup, self.position)
            assert token is not None  # the pattern matches the empty string
            self.position = token.end()
            if self._at() and self._at() not in SPACES and self._at() != ">":
                raise EntityError(
                    f"Unexpected end of name token at byte offset {self._byte_offset(token.start())}"
                )
            return token.group().lower()
        self.position += 1
        value: list[str] = []
        while self._at() and self._at() != quote:
            decoded, end = decode_reference(self.markup, self.position)
            if decoded is None:
                decoded, end = self._at(), self.position + 1
            value.append(decoded)
            self.position = end
        if self._at() == quote:
            self.position += 1
        return "".join(value)

    def _end_tag(self) -> None:
        begin = self.position
        at = self._byte_offset(begin)
        if not self.stack:
            raise EntityError(f"Unexpected end tag at byte offset {at}")
        self.position += 2
        while self._at() and self._at() not in SPACES and self._at() != ">":
            self.position += 1
        name = self.markup[begin + 2 : self.position].lower()
        self._skip_spaces()
        if self._at() != ">":
            raise EntityError(f"Unclosed end tag at byte offset {at}")
        self.position += 1
        opened = self.stack.pop()
        if name and name != opened.name:
            raise EntityError(
                f'Unmatched end tag at byte offset {at}, expected "</{opened.name}>", '
                f'found "</{name}>"'
            )
        if self.offset > opened.offset:
            entity = self._entity(opened)
            if entity is not None:
                self.found.append((opened.order, entity))

    def _entity(self, opened: _OpenTag) -> Entity | None:
        offset, length = opened.offset, self.offset - opened.offset
        if opened.name in SIMPLE_TAGS or opened.name == "span":
            return Entity(
                type=SIMPLE_TAGS.get(opened.name, "spoiler"), offset=offset, length=length
            )
        if opened.name == "blockquote":
            kind = "expandable_blockquote" if opened.argument else "blockquote"
            return Entity(type=kind, offset=offset, length=length)
        if opened.name == "code":
            return Entity(
                type="code", offset=offset, length=length, language=opened.argument or None
            )
        if opened.name == "pre":
            return self._pre(offset, length)
        url = opened.argument or "".join(self.output[opened.text_start :])
        return link_entity(url, offset, length)

    def _pre(self, offset: int, length: int) -> Entity:
        """A pre entity; a code entity with a language on the same span merges into it."""
        if self.found:
            _, inner = self.found[-1]
            if inner.type == "code" and (inner.offset, inner.length) == (offset, length):
                self.found.pop()
                return Entity(type="pre", offset=offset, length=length, language=inner.language)
        return Entity(type="pre", offset=offset, length=length)


def decode_reference(markup: str, position: int) -> tuple[str | None, int]:
    """The character a reference at `position` stands for and where it ends;
    (None, position) when the "&" there starts no reference the parser knows."""
    numeric = NUMERIC_REFERENCE.match(markup, position)
    if numeric is not None:
        digits = numeric.group(1) if numeric.group(1) is not None else numeric.group(2)
        base = 16 if numeric.group(1) is not None else 10
        if not digits or len(numeric.group().rstrip(";")) >= 10:
            return None, position
        code = int(digits, base)
        if code == 0 or code >= 0x10FFFF:
            return None, position
        return chr(code), numeric.end()
    named = NAMED_REFERENCE.match(markup, position)
    if named is None or named.group(1) not in NAMED_REFERENCES:
        return None, position
    return NAMED_REFERENCES[named.group(1)], named.end()


def _argument(tag: str, attribute: str, value: str, current: str) -> str:
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value
    if tag == "blockquote" and attribute == "expandable":
        return "1"
    return current


def _without_nested_in_code(found: list[tuple[int, Entity]]) -> tuple[Entity, ...]:
    """Entities in order (by offset, longer first, outer first), minus any that lie
    inside a code or pre entity; a code entity keeps no language (only pre has one)."""
    ordered = [
        entity for _, entity in sorted(found, key=lambda f: (f[1].offset, -f[1].length, f[0]))
    ]
    verbatim = [entity for entity in ordered if entity.type in ("code", "pre")]
    kept = [
        entity
        for entity in ordered
        if not any(
            outer is not entity and outer.offset <= entity.offset and entity.end <= outer.end
            for outer in verbatim
        )
    ]
    return tuple(attrs.evolve(e, language=None) if e.type == "code" else e for e in kept)
