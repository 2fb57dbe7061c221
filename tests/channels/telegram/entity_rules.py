"""Telegram's rules for a message's entities, written out independently of the renderer.

From tdlib (td/telegram/MessageEntity.cpp: `are_entities_valid`, `fix_entities`,
`LinkManager::check_link`): two entities either do not overlap or one holds the
other; code and pre hold nothing and sit inside nothing but a blockquote;
links and blockquotes never sit inside a link; blockquotes never nest; two
entities of one type never overlap; a text_link URL is http(s) with a dotted
host or a tg:// link. Telegram repairs or refuses anything else, so the
renderer and the splitter must never produce it.
"""

from __future__ import annotations

import itertools
import re

from autobot.channels.telegram.render import Entity, RenderedText, utf16_len

_HTTP_URL = re.compile(
    r"https?://([a-z0-9_-]+(\.[a-z0-9_-]+)+\.?|\[[0-9a-f:.]+\])(:0*[1-9][0-9]{0,4})?([/?#]\S*)?",
    re.I,
)
_TG_URL = re.compile(r"tg://(?!user\b)[A-Za-z0-9_-]+([/?#]\S*)?", re.I)


# What may hold an entity of these types (any other type may be held by anything
# but code and pre).
_ALLOWED_HOLDERS = {
    "code": {"blockquote"},
    "pre": {"blockquote"},
    "blockquote": set[str](),
    "text_link": {"blockquote", "bold", "italic", "strikethrough"},
}


def violations(rendered: RenderedText) -> list[str]:
    """Every way `rendered` breaks Telegram's entity rules (empty: none)."""
    found: list[str] = []
    size = utf16_len(rendered.text)
    for entity in rendered.entities:
        if not 0 <= entity.offset < entity.offset + entity.length <= size:
            found.append(f"{entity} lies outside the text of {size} code units")
        if entity.type == "text_link" and not (
            _HTTP_URL.fullmatch(entity.url or "") or _TG_URL.fullmatch(entity.url or "")
        ):
            found.append(f"{entity} links to a URL Telegram refuses")
    for one, other in itertools.permutations(rendered.entities, 2):
        if one.offset < other.offset < one.end < other.end:
            found.append(f"{one} and {other} overlap without nesting")
        if not _holds(one, other):
            continue
        if one.type == other.type:
            found.append(f"{one} and {other} are the same type and overlap")
        elif one.type in ("code", "pre"):
            found.append(f"{one} holds {other}")
        elif other.type in _ALLOWED_HOLDERS and one.type not in _ALLOWED_HOLDERS[other.type]:
            found.append(f"{other} sits inside {one}")
    return found


# Which of two entities on the same range Telegram takes as the outer one.
_PRIORITY = {
    "blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "bold": 90,
    "italic": 91,
    "strikethrough": 93,
}


def _holds(one: Entity, other: Entity) -> bool:
    """Whether `one` holds `other`, in Telegram's reading."""
    if (one.offset, one.end) == (other.offset, other.end):
        return _PRIORITY[one.type] <= _PRIORITY[other.type]
    return one.offset <= other.offset and other.end <= one.end
