"""Text every channel can send: surrogate code points made valid (pure).

A platform's JSON may carry a `\\ud83d` escape alone; Python decodes it into
a lone surrogate, which no UTF-8 request can carry. `valid_utf16` pairs up
surrogates into the character they encode and replaces every lone one with
U+FFFD; `LONE_SURROGATE` finds one.
"""

from __future__ import annotations

import re

LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_utf16(text: str) -> str:
    """`text` with surrogate code points paired up and every lone one replaced by U+FFFD."""
    if LONE_SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
