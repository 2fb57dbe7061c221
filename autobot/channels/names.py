"""A sender's name as the channels pass it on: one printable line, capped (pure).

A display name is chosen by its owner and lands in the model's prompt and in
the logs, so what a platform delivers (a Telegram first and last name, a
Zulip full name, a WhatsApp push name) is made one printable line first;
`one_line` does the same for any other text a platform chose (a reason the
WhatsApp bridge gives), with its own cap.
"""

from __future__ import annotations

import unicodedata

from autobot.channels.utf16 import valid_utf16

MAX_DISPLAY_NAME = 64  # characters of a sender's name kept

_JOINERS = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner


def one_line(text: str, limit: int) -> str:
    """`text` as one printable line of at most `limit` characters: control,
    format (bidi overrides) and separator characters become spaces (the
    joiners emoji and scripts need stay), runs of spaces one; a lone
    surrogate becomes U+FFFD."""
    cleaned = "".join(
        " " if unicodedata.category(char)[0] in "CZ" and char not in _JOINERS else char
        for char in valid_utf16(text)
    )
    return " ".join(cleaned.split())[:limit].strip()


def printable_name(text: str) -> str:
    """`text` as one printable line (`one_line`) of at most `MAX_DISPLAY_NAME` characters."""
    return one_line(text, MAX_DISPLAY_NAME)
