"""The model's Markdown as the channel renderers read it (pure).

Telegram (`telegram.render`), Slack (`slack.mrkdwn`) and WhatsApp
(`whatsapp.render`) each turn the model's CommonMark into their own format
with markdown-it, and all must never fail and never lose text. `parse`
gives a renderer the source it should work from (lone surrogates made
valid: `utf16.valid_utf16`) and its tokens, or no tokens when markdown-it
would silently drop the rest of the document: a container nested to the
parser's depth limit is left empty and everything after it is skipped
without a word. The renderer then shows the source as plain text.

`ListStack` follows the lists open at a point of the block tokens, for the
renderers that write list markers as text: how deep they nest and the marker
of each item (`1. `, `2. `, … from the list's start, or the renderer's bullet).
"""

from __future__ import annotations

import itertools

import attrs
from markdown_it import MarkdownIt
from markdown_it.token import Token

from autobot.channels.utf16 import valid_utf16


def parse(parser: MarkdownIt, markdown: str) -> tuple[str, list[Token] | None]:
    """`markdown` made valid UTF-16 text, and its tokens by `parser`; None for
    the tokens when `parser` would drop text (see the module docstring)."""
    source = valid_utf16(markdown)
    tokens = parser.parse(source)
    depth_limit: int = parser.options.maxNesting
    for opening, after in itertools.pairwise(tokens):
        if opening.nesting == 1 and opening.level >= depth_limit - 1 and after.nesting == -1:
            return source, None
    return source, tokens


@attrs.define
class _OpenList:
    ordered: bool
    number: int  # of its next item


@attrs.define
class ListStack:
    """The lists open at a point of markdown-it's block tokens (see the module
    docstring); its length is how many, innermost last."""

    _open: list[_OpenList] = attrs.Factory(list)

    def __len__(self) -> int:
        return len(self._open)

    def open(self, token: Token) -> None:
        """A `bullet_list_open` or `ordered_list_open` token (an ordered one
        numbers from its `start`, 1 when it has none)."""
        start = token.attrGet("start")
        number = int(start) if isinstance(start, int | str) and str(start).isdigit() else 1
        self._open.append(_OpenList(ordered=token.type == "ordered_list_open", number=number))

    def close(self) -> None:
        """A list's closing token."""
        self._open.pop()

    def item_marker(self, bullet: str) -> str:
        """The marker of the innermost list's next item: its number and `. `
        in an ordered list, else `bullet`."""
        current = self._open[-1]
        if not current.ordered:
            return bullet
        current.number += 1
        return f"{current.number - 1}. "
