"""`parse_event`: one raw Zulip event as a `ZulipMessage` (pure, no I/O).

Only `message` events become messages. `None` stands for everything the
channel does not pass on: other event types (heartbeats above all), the
bot's own messages (its user id, or its email in any ASCII case: Zulip
delivers what the bot sends to its own queue too), message types other than
stream (`stream`/`channel`) and direct (`private`/`direct`), and any event
that is malformed (a field missing or of the wrong type): the parser never
raises on JSON-shaped input.

Mentions (what `streams` needs): the event's `mentioned` flag, or a
non-silent user mention of the bot in the content as written
(`@**Full Name**`, any case, or `@**Any Name|<bot id>**`), with Zulip's own
rule for where a mention may start (after a space, a quote or an opening
bracket). Silent mentions (`@_**Name**`) and wildcards (`@**all**`) do not
address the bot.

Uploads: the `/user_uploads/...` targets of Markdown links in the content
(`[file.pdf](/user_uploads/2/ab/xyz/file.pdf)`, what Zulip's apps insert),
each once, at most `MAX_UPLOADS`, only those `api.upload_path_problem`
accepts.

Text is kept as sent, except that a lone surrogate (which no UTF-8 record
can hold) becomes U+FFFD; names are made one printable line.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from autobot.channels.access import email_key
from autobot.channels.json_fields import (
    Malformed,
    as_list,
    as_object,
    int_field,
    malformed,
    str_field,
)
from autobot.channels.names import printable_name
from autobot.channels.utf16 import valid_utf16
from autobot.channels.zulip.api import BotIdentity, upload_path_problem

STREAM_TYPES = frozenset({"stream", "channel"})
DIRECT_TYPES = frozenset({"private", "direct"})
MAX_UPLOADS = 5  # upload links of one message that are fetched

# Zulip's mention syntax (zerver/lib/mention.py): `@` after the start, a
# space, a quote or an opening bracket, then `**name**` (`_` first: silent).
_USER_MENTION = re.compile(r"(?<![^\s'\"\(\{\[/<])@(?P<silent>_?)\*\*(?P<name>[^*]+)\*\*")
_NAME_WITH_ID = re.compile(r"(?P<name>.*)\|(?P<id>[0-9]+)", re.DOTALL)
_UPLOAD_LINK = re.compile(r"\]\((?P<path>/user_uploads/[^)\s]+)\)")


@attrs.frozen(kw_only=True)
class ZulipMessage:
    """One message for the channel, in the terms the channel layer uses.

    `stream_id`, `stream_name` and `topic` are set for a stream message
    (None for a direct one); `others` are the participants of a direct
    message besides the bot and the sender (non-empty: a group direct
    message); `mentioned` says the bot is mentioned; `uploads` are the
    upload paths its content links to.
    """

    event_id: int
    message_id: int
    sender_id: int
    sender_email: str
    sender_name: str
    content: str
    stream_id: int | None
    stream_name: str | None
    topic: str | None
    others: tuple[int, ...]
    mentioned: bool
    uploads: tuple[str, ...]

    @property
    def dedup_keys(self) -> tuple[str]:
        """What identifies a redelivery: the message id (unique on a server,
        whichever event queue delivers it)."""
        return (f"msg:{self.message_id}",)


def parse_event(event: dict[str, Any], bot: BotIdentity) -> ZulipMessage | None:
    """The message `event` carries for `bot`, or None (see the module doc)."""
    try:
        return _parse(event, bot)
    except Malformed:
        return None


def mentions(content: str, bot: BotIdentity) -> bool:
    """Whether `content` holds a non-silent user mention of `bot`."""
    wanted = bot.full_name.casefold()
    for found in _USER_MENTION.finditer(content):
        if found["silent"]:
            continue
        name = found["name"]
        with_id = _NAME_WITH_ID.fullmatch(name)
        if with_id is not None:
            if int(with_id["id"]) == bot.user_id:
                return True
        elif name.casefold() == wanted:
            return True
    return False


def upload_paths(content: str) -> tuple[str, ...]:
    """The usable `/user_uploads/` link targets of `content`, each once, in
    order, at most `MAX_UPLOADS`."""
    found: list[str] = []
    for link in _UPLOAD_LINK.finditer(content):
        path = link["path"]
        if path not in found and upload_path_problem(path) is None:
            found.append(path)
        if len(found) == MAX_UPLOADS:
            break
    return tuple(found)


def _parse(event: dict[str, Any], bot: BotIdentity) -> ZulipMessage | None:
    if not isinstance(event, dict):
        malformed()
    event_id = int_field(event, "id")
    if event.get("type") != "message":
        return None
    message = as_object(event.get("message"))
    sender_id = int_field(message, "sender_id")
    sender_email = str_field(message, "sender_email")
    if sender_id == bot.user_id or email_key(sender_email) == email_key(bot.email):
        return None
    kind = str_field(message, "type")
    content = valid_utf16(str_field(message, "content"))
    flags = as_list(event.get("flags", []))
    mentioned = "mentioned" in flags or mentions(content, bot)
    if kind in STREAM_TYPES:
        stream_id = int_field(message, "stream_id")
        stream_name = valid_utf16(str_field(message, "display_recipient"))
        topic_key = "subject" if "subject" in message else "topic"
        topic: str | None = valid_utf16(str_field(message, topic_key))
        others: tuple[int, ...] = ()
    elif kind in DIRECT_TYPES:
        stream_id, stream_name, topic = None, None, None
        recipients = as_list(message.get("display_recipient"))
        ids = [int_field(as_object(person), "id") for person in recipients]
        others = tuple(sorted(set(ids) - {bot.user_id, sender_id}))
    else:
        return None
    return ZulipMessage(
        event_id=event_id,
        message_id=int_field(message, "id"),
        sender_id=sender_id,
        sender_email=valid_utf16(sender_email),
        sender_name=_display_name(message, sender_email),
        content=content,
        stream_id=stream_id,
        stream_name=stream_name,
        topic=topic,
        others=others,
        mentioned=mentioned,
        uploads=upload_paths(content),
    )


def _display_name(message: dict[str, Any], email: str) -> str:
    name = message.get("sender_full_name")
    shown = printable_name(name) if isinstance(name, str) else ""
    return shown or printable_name(email)
