"""`parse_update`: one raw Bot API Update as a `TelegramEvent` (pure, no I/O).

Only `message` updates become events. `None` stands for everything the
channel does not pass on: other update kinds (edits, callbacks, member
changes...), messages without a sender or from a bot (`from.is_bot`: other
bots, and the anonymous-admin and channel stand-ins), chat types other than
private, group and supergroup, messages with neither text, caption nor a
photo, document or voice note (service messages such as members joining,
topics opening or pins, and stickers, locations, polls...), and any update
that is malformed (a field of the wrong type, a missing id): the parser
never raises on JSON-shaped input.

Addressing (what `group_policy: mention` needs), by the API's own markers:

- a `mention` entity whose text (`offset`/`length` in UTF-16 code units) is
  `@<bot username>` in any ASCII case;
- a `text_mention` entity naming the bot's user id;
- a reply to one of the bot's messages (`reply_to_message.from.id`); in a
  forum topic a message that replies to nothing carries the topic's opening
  message as `reply_to_message`, which is not a reply;
- a `bot_command` entity with our `@username` suffix.

`command` is the bot command the message starts with, lower-cased and
without its suffix, when that suffix is absent or ours (`/cmd@otherbot` is
neither our command nor addressing us). A command without a suffix is a
command but does not address the bot: in a group it may be meant for any bot.

Text from the update is kept as sent, except that a lone surrogate (which no
UTF-8 record can hold) becomes U+FFFD; names are made one printable line.
"""

from __future__ import annotations

import re
from typing import Any, Literal, cast

import attrs

from autobot.channels.base import AttachmentKind
from autobot.channels.json_fields import (
    Malformed,
    as_list,
    as_object,
    bool_field,
    int_field,
    malformed,
    optional_bool,
    optional_int,
    optional_str,
    str_field,
)
from autobot.channels.names import printable_name
from autobot.channels.telegram.api import BotIdentity
from autobot.channels.utf16 import valid_utf16

ChatType = Literal["private", "group", "supergroup"]
CHAT_TYPES: frozenset[str] = frozenset({"private", "group", "supergroup"})

_COMMAND = re.compile(r"/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{1,32}))?")


@attrs.frozen(kw_only=True)
class MediaRef:
    """A file attached to a message, still on Telegram's servers (`file_id`).

    `size` is the size Telegram reported (None when absent); `file_name` and
    `mime_type` come with documents (and voice notes' MIME type), `duration`
    (seconds) with voice notes.
    """

    kind: AttachmentKind
    file_id: str
    size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    duration: int | None = None


@attrs.frozen(kw_only=True)
class TelegramEvent:
    """One message for the channel, in the terms the channel layer uses.

    `chat_id` and `sender_id` are the API's integer ids as text; `thread_id`
    is the forum topic (only for topic messages); `reply_to` the id of the
    message this one answers; `text` is the text or the media's caption;
    `media` the photo (largest size), document or voice note, if any.
    """

    update_id: int
    chat_id: str
    chat_type: ChatType
    thread_id: int | None
    message_id: int
    sender_id: str
    username: str | None
    display_name: str
    text: str
    addressed: bool
    command: str | None
    reply_to: int | None
    media: MediaRef | None

    @property
    def is_group(self) -> bool:
        return self.chat_type != "private"

    @property
    def dedup_keys(self) -> tuple[str, str]:
        """What identifies this delivery: the update and the chat's message."""
        return (f"update:{self.update_id}", f"msg:{self.chat_id}:{self.message_id}")


def parse_update(update: dict[str, Any], bot: BotIdentity) -> TelegramEvent | None:
    """The event `update` carries for `bot`, or None (see the module doc)."""
    try:
        return _parse(update, bot)
    except Malformed:
        return None


def _parse(update: dict[str, Any], bot: BotIdentity) -> TelegramEvent | None:
    if not isinstance(update, dict):
        malformed()
    update_id = int_field(update, "update_id")
    message = update.get("message")
    if message is None:
        return None
    message = as_object(message)
    sender = message.get("from")
    if sender is None:
        return None
    sender = as_object(sender)
    if bool_field(sender, "is_bot"):
        return None
    chat = as_object(message.get("chat"))
    chat_type = str_field(chat, "type")
    if chat_type not in CHAT_TYPES:
        return None
    text, entities = _text_and_entities(message)
    media = _media(message)
    if not text and media is None:
        return None
    thread_id = optional_int(message, "message_thread_id")
    if optional_bool(message, "is_topic_message") is not True:
        thread_id = None
    reply_to, replies_to_bot = _reply(message, thread_id, bot)
    command, command_addresses = _command(text, entities, bot)
    username = optional_str(sender, "username")
    return TelegramEvent(
        update_id=update_id,
        chat_id=str(int_field(chat, "id")),
        chat_type=cast(ChatType, chat_type),
        thread_id=thread_id,
        message_id=int_field(message, "message_id"),
        sender_id=str(int_field(sender, "id")),
        username=None if username is None else valid_utf16(username),
        display_name=_display_name(sender),
        text=valid_utf16(text),
        addressed=replies_to_bot or command_addresses or _mentions(entities, bot),
        command=command,
        reply_to=reply_to,
        media=media,
    )


# ---- text, entities, addressing -----------------------------------------------------------


@attrs.frozen
class _Entity:
    type: str
    text: str | None  # the covered text, None when the span is not within the text
    offset: int
    user_id: int | None


def _text_and_entities(message: dict[str, Any]) -> tuple[str, list[_Entity]]:
    """The text (or caption) and its entities with the text each covers."""
    if "text" in message:
        text, key = str_field(message, "text"), "entities"
    elif "caption" in message:
        text, key = str_field(message, "caption"), "caption_entities"
    else:
        return "", []
    raw = as_list(message.get(key, []))
    units = text.encode("utf-16-le", "surrogatepass")
    entities = []
    for item in raw:
        entity = as_object(item)
        offset, length = int_field(entity, "offset"), int_field(entity, "length")
        inside = offset >= 0 and length > 0 and offset + length <= len(units) // 2
        covered = (
            units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "surrogatepass")
            if inside
            else None
        )
        user = entity.get("user")
        user_id = int_field(as_object(user), "id") if user is not None else None
        entities.append(_Entity(str_field(entity, "type"), covered, offset, user_id))
    return text, entities


def _mentions(entities: list[_Entity], bot: BotIdentity) -> bool:
    handle = f"@{bot.username}".lower()
    for entity in entities:
        # ASCII only: no Kelvin sign or dotted capital I case-folds into a match.
        covered = entity.text or ""
        if entity.type == "mention" and covered.isascii() and covered.lower() == handle:
            return True
        if entity.type == "text_mention" and entity.user_id == bot.id:
            return True
    return False


def _command(text: str, entities: list[_Entity], bot: BotIdentity) -> tuple[str | None, bool]:
    """The command the message starts with (if ours) and whether any command
    names the bot with its @username suffix."""
    command: str | None = None
    addressed = False
    for entity in entities:
        found = _COMMAND.fullmatch(entity.text or "") if entity.type == "bot_command" else None
        if found is None:
            continue
        suffix = found["bot"]
        ours = suffix is not None and suffix.lower() == bot.username.lower()
        addressed = addressed or ours
        if entity.offset == 0 and (suffix is None or ours):
            command = found["name"].lower()
    return command, addressed


def _reply(
    message: dict[str, Any], thread_id: int | None, bot: BotIdentity
) -> tuple[int | None, bool]:
    """The id of the message replied to and whether it is the bot's."""
    replied = message.get("reply_to_message")
    if replied is None:
        return None, False
    replied = as_object(replied)
    replied_id = int_field(replied, "message_id")
    if thread_id is not None and replied_id == thread_id:
        return None, False  # the topic's opening message: not a reply
    author = replied.get("from")
    by_bot = author is not None and int_field(as_object(author), "id") == bot.id
    return replied_id, by_bot


def _display_name(sender: dict[str, Any]) -> str:
    parts = [str_field(sender, "first_name"), optional_str(sender, "last_name") or ""]
    name = printable_name(" ".join(part for part in parts if part))
    if name:
        return name
    username = optional_str(sender, "username")
    return printable_name(f"@{username}") if username else str(int_field(sender, "id"))


# ---- media --------------------------------------------------------------------------------


def _media(message: dict[str, Any]) -> MediaRef | None:
    if "photo" in message:
        photos = [as_object(size) for size in as_list(message["photo"])]
        if not photos:
            malformed()
        largest = max(
            enumerate(photos),
            key=lambda item: (
                int_field(item[1], "width") * int_field(item[1], "height"),
                optional_int(item[1], "file_size") or 0,
                item[0],
            ),
        )[1]
        return _file(AttachmentKind.PHOTO, largest)
    if "document" in message:
        document = as_object(message["document"])
        return attrs.evolve(
            _file(AttachmentKind.DOCUMENT, document),
            file_name=_optional_text(document, "file_name"),
            mime_type=_optional_text(document, "mime_type"),
        )
    if "voice" in message:
        voice = as_object(message["voice"])
        return attrs.evolve(
            _file(AttachmentKind.VOICE, voice),
            mime_type=_optional_text(voice, "mime_type"),
            duration=int_field(voice, "duration"),
        )
    return None


def _file(kind: AttachmentKind, file: dict[str, Any]) -> MediaRef:
    file_id = str_field(file, "file_id")
    size = optional_int(file, "file_size")
    if not file_id or (size is not None and size < 0):
        malformed()
    return MediaRef(kind=kind, file_id=file_id, size=size)


def _optional_text(container: dict[str, Any], key: str) -> str | None:
    """An optional string made safe to carry (no lone surrogates)."""
    value = optional_str(container, key)
    return None if value is None else valid_utf16(value)
