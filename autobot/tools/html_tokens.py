"""A linear-time HTML tokenizer and character-reference decoder (pure, no I/O).

`Tokenizer(html)` yields `Token`s that cover the input exactly, in order,
after the WHATWG tokenizer, simplified to what text extraction needs: text,
start and end tags (lower-case names, attributes with the first of a
repeated name kept), the raw content of script-like elements, and skipped
markup (comments, doctypes, CDATA, processing instructions, and a tag or
quoted value cut off by the end of the input).

Linear time, by construction (stdlib `html.parser` is quadratic on input
such as `"<a " * n`, since it rescans an unfinished tag from its start):

- every step (one token, or one attribute inside a tag) consumes at least
  one character, so there are at most `len(html)` steps (`Tokenizer.steps`);
- no step looks past the end of what it consumes (plus one character): each
  regular expression is an anchored match of a single character class, so
  it cannot backtrack, and each delimiter (`>`, `-->`, a closing quote,
  `</script`) is searched for once; when it is missing, the construct runs
  to the end of the input, as in the WHATWG tokenizer, and nothing is
  rescanned.

`decode_entities` replaces character references in linear time (each
reference is bounded before it is looked up, so `&#` followed by a million
digits costs no more than reading them).
"""

from __future__ import annotations

import enum
import html as stdlib_html
import re
from collections.abc import Iterator
from typing import NamedTuple

# Elements whose content is not markup: it runs to the matching end tag.
RAW_TEXT_ELEMENTS = frozenset(
    {"script", "style", "noscript", "iframe", "noembed", "noframes", "xmp"}
)
# Elements whose content is text with character references but no tags.
ESCAPABLE_RAW_TEXT_ELEMENTS = frozenset({"textarea", "title"})

_WS = "\t\n\f\r "
_MARKUP_START = re.compile(r"<[A-Za-z/!?]")  # any other `<` is text
_SPACES = re.compile(f"[{_WS}]*")
_GAP = re.compile(f"[{_WS}/]*")  # between attributes (a stray `/` is ignored)
_TAG_NAME_REST = re.compile(f"[^{_WS}/>]*")
_ATTR_NAME_REST = re.compile(f"[^{_WS}/>=]*")  # the first character may be anything else
_UNQUOTED_VALUE = re.compile(f"[^{_WS}>]*")
_RAW_END = {
    name: re.compile(f"</{name}(?=[{_WS}/>]|\\Z)", re.IGNORECASE)
    for name in RAW_TEXT_ELEMENTS | ESCAPABLE_RAW_TEXT_ELEMENTS
}
# A character reference, each part bounded or a single run of one class.
_CHARREF = re.compile(r"&(?:#[xX]([0-9a-fA-F]+);?|#([0-9]+);?|([A-Za-z][A-Za-z0-9]{0,31};?))")
_MAX_CODEPOINT_DIGITS = 8  # more significant digits are beyond U+10FFFF anyway


class Kind(enum.Enum):
    """What a token is."""

    TEXT = "text"  # character data; references not yet decoded
    RAW_TEXT = "raw_text"  # content of a raw text element: neither markup nor references
    START = "start"
    END = "end"
    SKIPPED = "skipped"  # comment, doctype, CDATA, processing instruction, cut-off tag


class Token(NamedTuple):
    """`html[start:end]` is the token's source; `name` and `attrs` are set for tags."""

    kind: Kind
    start: int
    end: int
    name: str = ""
    attrs: tuple[tuple[str, str], ...] = ()
    self_closing: bool = False


class Tokenizer:
    """Iterate to get the tokens of `html`; `steps` counts the work done so far."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.steps = 0

    def __iter__(self) -> Iterator[Token]:
        html, n = self.html, len(self.html)
        pos = 0
        while pos < n:
            self.steps += 1
            token = self._markup(pos) if _MARKUP_START.match(html, pos) else self._text(pos)
            yield token
            pos = token.end
            if token.kind is Kind.START and token.name in _RAW_END:
                content = self._raw_text(pos, token.name)  # same step as its start tag
                if content.end > content.start:
                    yield content
                pos = content.end

    def _text(self, pos: int) -> Token:
        """Character data up to the next `<` that opens markup (one at `pos` does not)."""
        found = _MARKUP_START.search(self.html, pos + 1)
        return Token(Kind.TEXT, pos, len(self.html) if found is None else found.start())

    def _raw_text(self, pos: int, element: str) -> Token:
        found = _RAW_END[element].search(self.html, pos)
        end = len(self.html) if found is None else found.start()
        kind = Kind.TEXT if element in ESCAPABLE_RAW_TEXT_ELEMENTS else Kind.RAW_TEXT
        return Token(kind, pos, end)

    def _markup(self, pos: int) -> Token:
        """The tag, comment or declaration at `pos` (where `_MARKUP_START` matched)."""
        html = self.html
        after = html[pos + 1 : pos + 2]
        if after.isascii() and after.isalpha():
            return self._tag(pos, pos + 1, Kind.START)
        if after == "/":
            closing = html[pos + 2 : pos + 3]
            if closing.isascii() and closing.isalpha():
                return self._tag(pos, pos + 2, Kind.END)
            if closing == ">":
                return Token(Kind.SKIPPED, pos, pos + 3)  # `</>` is ignored
            return self._until(pos, pos + 2, ">")
        if after == "!":
            if html.startswith("<!--", pos):
                for abrupt in ("<!-->", "<!--->"):
                    if html.startswith(abrupt, pos):
                        return Token(Kind.SKIPPED, pos, pos + len(abrupt))
                return self._until(pos, pos + 4, "-->")
            if html.startswith("<![CDATA[", pos):
                return self._until(pos, pos + 9, "]]>")
            return self._until(pos, pos + 2, ">")
        return self._until(pos, pos + 2, ">")  # `<?`: a processing instruction

    def _until(self, pos: int, search_from: int, delimiter: str) -> Token:
        """Skipped markup through `delimiter`, or to the end of the input."""
        found = self.html.find(delimiter, search_from)
        end = len(self.html) if found == -1 else found + len(delimiter)
        return Token(Kind.SKIPPED, pos, end)

    def _tag(self, pos: int, name_at: int, kind: Kind) -> Token:
        """A start or end tag whose name starts at `name_at`; a tag the input
        ends inside of is skipped, as in the WHATWG tokenizer."""
        html, n = self.html, len(self.html)
        at = _run_end(_TAG_NAME_REST, html, name_at + 1)
        name = html[name_at:at].lower()
        attrs: list[tuple[str, str]] = []
        seen: set[str] = set()
        while True:
            self.steps += 1
            gap_start, at = at, _run_end(_GAP, html, at)
            if at >= n:
                return Token(Kind.SKIPPED, pos, n)
            if html[at] == ">":
                self_closing = at > gap_start and html[at - 1] == "/"
                return Token(kind, pos, at + 1, name, tuple(attrs), self_closing)
            name_start, at = at, _run_end(_ATTR_NAME_REST, html, at + 1)
            attr_name = html[name_start:at].lower()
            at = _run_end(_SPACES, html, at)
            value = ""
            if html.startswith("=", at):
                at = _run_end(_SPACES, html, at + 1)
                quote = html[at : at + 1]
                if quote in ('"', "'"):
                    close = html.find(quote, at + 1)
                    if close == -1:
                        return Token(Kind.SKIPPED, pos, n)
                    value, at = html[at + 1 : close], close + 1
                else:
                    value_start, at = at, _run_end(_UNQUOTED_VALUE, html, at)
                    value = html[value_start:at]
            if attr_name not in seen:
                seen.add(attr_name)
                attrs.append((attr_name, value))


def _run_end(pattern: re.Pattern[str], html: str, at: int) -> int:
    """Where the (possibly empty) run of `pattern`'s character class from `at` ends."""
    match = pattern.match(html, at)
    return at if match is None else match.end()


def decode_entities(text: str) -> str:
    """`text` with character references (`&amp;`, `&#169;`, `&#xA9;`) replaced
    as a browser does; unknown references are kept as written."""
    if "&" not in text:
        return text
    return _CHARREF.sub(_decode_one, text)


def _decode_one(match: re.Match[str]) -> str:
    hex_digits, decimal_digits, name = match.groups()
    if name is not None:
        return stdlib_html.unescape("&" + name)  # bounded: at most 33 characters
    digits = (hex_digits if hex_digits is not None else decimal_digits).lstrip("0") or "0"
    if len(digits) > _MAX_CODEPOINT_DIGITS:
        return "\ufffd"
    value = int(digits, 16 if hex_digits is not None else 10)
    return stdlib_html.unescape(f"&#{value};")  # maps C1 controls, surrogates, > U+10FFFF
