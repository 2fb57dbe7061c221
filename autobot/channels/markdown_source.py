"""The model's Markdown as the channel renderers read it (pure).

Telegram (`telegram.render`), Slack (`slack.mrkdwn`) and WhatsApp
(`whatsapp.render`) each turn the model's CommonMark into their own format
with markdown-it, and all must never fail and never lose text. `parse`
gives a renderer the source it should work from (lone surrogates made
valid: `utf16.valid_utf16`) and its tokens, or no tokens when markdown-it
would silently drop the rest of the document: a container nested to the
parser's depth limit is left empty and everything after it is skipped
without a word. The renderer then shows the source as plain text.
"""

from __future__ import annotations

import itertools

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
