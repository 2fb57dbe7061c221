"""Message entities as the Bot API counts them: in UTF-16 code units.

`Entity` is one span of a message's text (formatting, link, mention...).
`entities_from_api` checks what a client sent (an array of objects, known
types with their required fields, spans inside the text that never split a
surrogate pair) and raises `EntityError` with the detail the real API gives
(the fake answers it as 400 "Bad Request: can't parse entities: <detail>").
`find_entities` marks what a Telegram app marks by itself in a typed message:
@mentions and /commands. `utf16_len`, `utf16_slice` and `span_of` convert
between Python strings and UTF-16 offsets.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

import attrs

from autobot.testing.telegram.objects import TelegramUser

# Every entity type of Bot API 10, and the field each one requires besides offset/length.
ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "date_time",
    }
)
MENTION = re.compile(r"(?<![A-Za-z0-9_@])@[A-Za-z0-9_]{5,32}(?![A-Za-z0-9_])")
SPACES = frozenset(" \t\r\n\v\0")  # what the real parsers take for whitespace (ASCII only)
TEXT_MENTION_URL = re.compile(r"tg://user\?id=([0-9]{1,19})")
LINK_SCHEMES = frozenset({"http", "https", "tg", "ton", "ftp", "mailto"})
HOSTED_SCHEMES = frozenset({"http", "https", "ftp"})
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?![0-9])")  # "host:8080" is no scheme
BOT_COMMAND = re.compile(
    r"(?<![A-Za-z0-9_/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_/<>@])"
)


class EntityError(ValueError):
    """Entities the Bot API would refuse; the message is the API's detail."""


def utf16_len(text: str) -> int:
    """How many UTF-16 code units `text` is (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of `text` at UTF-16 `offset` with UTF-16 `length`."""
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "surrogatepass")


def span_of(text: str, fragment: str, start: int = 0) -> tuple[int, int]:
    """UTF-16 (offset, length) of the first `fragment` in `text` at or after
    Python index `start`; raises `ValueError` if it is not there."""
    index = text.index(fragment, start)
    return utf16_len(text[:index]), utf16_len(fragment)


@attrs.frozen(kw_only=True)
class Entity:
    """One span of a message's text, offsets and lengths in UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None  # text_link
    user: TelegramUser | None = None  # text_mention
    language: str | None = None  # pre
    custom_emoji_id: str | None = None  # custom_emoji
    unix_time: int | None = None  # date_time
    date_time_format: str | None = None  # date_time

    @property
    def end(self) -> int:
        return self.offset + self.length

    def covered(self, text: str) -> str:
        """The text this entity covers in `text`."""
        return utf16_slice(text, self.offset, self.length)

    def to_api(self) -> dict[str, Any]:
        """The Bot API `MessageEntity` object."""
        entity: dict[str, Any] = {"type": self.type, "offset": self.offset, "length": self.length}
        for name in ("url", "language", "custom_emoji_id", "unix_time", "date_time_format"):
            if getattr(self, name) is not None:
                entity[name] = getattr(self, name)
        if self.user is not None:
            entity["user"] = self.user.to_api()
        return entity


@attrs.frozen(kw_only=True)
class FormattedText:
    """Plain text and its entities (sorted by offset, longer first): what a
    parse mode makes of markup."""

    text: str
    entities: tuple[Entity, ...] = ()

    def fields(self, text_key: str, entities_key: str) -> dict[str, Any]:
        """The Message fields for it: {"text": ..., "entities": [...]} or the
        caption pair; the entities key only when there are some."""
        fields: dict[str, Any] = {text_key: self.text}
        if self.entities:
            fields[entities_key] = [entity.to_api() for entity in self.entities]
        return fields


def link_entity(url: str, offset: int, length: int) -> Entity | None:
    """The entity a link in markup makes: text_mention for `tg://user?id=N`,
    text_link for a URL (http:// added when it has no scheme), None for
    something that is no URL or has a scheme Telegram does not link
    (javascript:, data:...): the real API drops such links silently."""
    mention = TEXT_MENTION_URL.fullmatch(url)
    if mention is not None:
        user = TelegramUser(id=int(mention.group(1)), first_name="")
        return Entity(type="text_mention", offset=offset, length=length, user=user)
    if URL_SCHEME.match(url) is None:
        url = "http://" + url
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES or (scheme in HOSTED_SCHEMES and not parts.hostname):
        return None
    return Entity(type="text_link", offset=offset, length=length, url=url)


def find_entities(text: str) -> tuple[Entity, ...]:
    """The mention and bot_command entities a Telegram app adds to typed `text`."""
    found = [
        Entity(type=kind, offset=utf16_len(text[: match.start()]), length=utf16_len(match.group()))
        for kind, pattern in (("mention", MENTION), ("bot_command", BOT_COMMAND))
        for match in pattern.finditer(text)
    ]
    return tuple(sorted(found, key=lambda entity: entity.offset))


def entities_from_api(value: object, text: str) -> tuple[Entity, ...]:
    """The entities a client sent for `text`, sorted by offset; an empty span is
    dropped (as the real API does). Raises `EntityError` naming the problem."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise EntityError("entities must be an Array of MessageEntity")
    parsed = [_entity(index, item) for index, item in enumerate(value)]
    entities = [entity for entity in parsed if entity.length > 0]
    check_spans(entities, text)
    return tuple(sorted(entities, key=lambda entity: (entity.offset, -entity.length)))


def check_spans(entities: Iterable[Entity], text: str) -> None:
    """Raises `EntityError` unless every entity lies inside `text` and neither
    starts nor ends inside a surrogate pair."""
    units = text.encode("utf-16-le", "surrogatepass")
    size = len(units) // 2

    def splits_pair(offset: int) -> bool:
        if offset in (0, size):
            return False
        unit = int.from_bytes(units[2 * offset : 2 * offset + 2], "little")
        return 0xDC00 <= unit <= 0xDFFF

    for entity in entities:
        if entity.offset > size:
            raise EntityError(
                f"Entity begins after the end of the text at UTF-16 offset {entity.offset}"
            )
        if entity.end > size:
            raise EntityError(
                f"Entity beginning at UTF-16 offset {entity.offset} ends after the end of "
                f"the text at UTF-16 offset {entity.end}"
            )
        if splits_pair(entity.offset):
            raise EntityError(
                f"Entity begins in a middle of a UTF-16 symbol at UTF-16 offset {entity.offset}"
            )
        if splits_pair(entity.end):
            raise EntityError(
                f"Entity beginning at UTF-16 offset {entity.offset} ends in a middle of a "
                f"UTF-16 symbol at UTF-16 offset {entity.end}"
            )


def _entity(index: int, item: object) -> Entity:
    where = f"entity {index}"
    if not isinstance(item, dict):
        raise EntityError(f"{where}: expected an Object")
    offset = _required_int(item, "offset", where)
    length = _required_int(item, "length", where)
    if offset < 0:
        raise EntityError(f"Receive an entity with incorrect offset {offset}")
    if length < 0:
        raise EntityError(f"Receive an entity with incorrect length {length}")
    kind = item.get("type")
    if not isinstance(kind, str) or not kind:
        raise EntityError(f'{where}: field "type" must be a non-empty String')
    if kind not in ENTITY_TYPES:
        raise EntityError(f'{where}: unsupported entity type "{kind}"')
    fields: dict[str, Any] = {}
    if kind == "text_link":
        fields["url"] = _required_str(item, "url", where)
    elif kind == "text_mention":
        user = item.get("user")
        if not isinstance(user, dict) or type(user.get("id")) is not int:
            raise EntityError(f'{where}: field "user" must be an Object with an integer "id"')
        fields["user"] = TelegramUser(id=user["id"], first_name=str(user.get("first_name", "")))
    elif kind == "custom_emoji":
        fields["custom_emoji_id"] = _required_str(item, "custom_emoji_id", where)
    elif kind == "date_time":
        fields["unix_time"] = _required_int(item, "unix_time", where)
        fields["date_time_format"] = _optional_str(item, "date_time_format", where)
    elif kind == "pre":
        fields["language"] = _optional_str(item, "language", where) or None
    return Entity(type=kind, offset=offset, length=length, **fields)


def _required_int(item: dict[str, Any], name: str, where: str) -> int:
    value = item.get(name)
    if type(value) is not int:
        raise EntityError(f'{where}: field "{name}" must be an Integer')
    return value


def _required_str(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise EntityError(f'{where}: field "{name}" must be a non-empty String')
    return value


def _optional_str(item: dict[str, Any], name: str, where: str) -> str | None:
    value = item.get(name)
    if value is not None and not isinstance(value, str):
        raise EntityError(f'{where}: field "{name}" must be a String')
    return value
