"""Socket Mode frames and Events API payloads as values (pure, no I/O).

`parse_frame(text)` reads one WebSocket text frame: `Hello`, `Disconnect`
(its reason), an `Envelope` to acknowledge (`envelope_id`, its `type`, the
payload, `retry_attempt` / `retry_reason` of a redelivery) or `Unknown`. It
never raises on any text.

`parse_event(payload, bot)` reads an `events_api` payload and returns the
`SlackEvent` the channel passes on, or None for everything it ignores:

- event types other than `message` and `app_mention`;
- messages from the bot itself (`user` is the bot's user id), from any bot
  (`bot_id` present), and messages with a `subtype` other than `file_share`
  (edits, deletions, joins, bot messages, thread broadcasts...);
- a message with neither text nor a file; anything malformed (an id that is
  not Slack's upper-case letters and digits, a `ts` that is not one).

`is_group` is true outside direct messages (`channel_type` im, or a `D...`
channel when `app_mention` does not say); `addressed` is true for an
`app_mention` and for text holding `<@BOTUSERID>`. The text is unescaped
(`&lt;` `&gt;` `&amp;`, Slack's only escapes) and lone surrogates become
U+FFFD. `dedup_keys` are the event id and the channel's message `ts`: the
same message delivered as both `message` and `app_mention` (two event ids)
is one message.

`SeenEvents` remembers the last `capacity` event ids (bounded), so a
redelivery is recognised before any work is done again; the inbound journal
keeps the durable memory across restarts.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, TypeGuard

import attrs

from autobot.channels.slack.api import SLACK_ID, TS, BotIdentity
from autobot.channels.utf16 import valid_utf16

EVENT_TYPES = frozenset({"message", "app_mention"})
CHANNEL_TYPES = frozenset({"im", "channel", "group", "mpim"})
KEPT_SUBTYPES = frozenset({"file_share"})
MAX_FILES = 10  # files of one message kept; Slack allows 10 per message
MAX_FILE_NAME = 200
SEEN_CAPACITY = 4096  # event ids remembered: far more than a redelivery window (~1 min) holds

_EVENT_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_ENVELOPE_ID = re.compile(r"[A-Za-z0-9-]{1,128}")
_MIME = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@attrs.frozen
class Hello:
    """The first frame of a connection."""

    num_connections: int | None = None


@attrs.frozen
class Disconnect:
    """Slack will close (or has disabled) this connection; `reason` as sent."""

    reason: str


@attrs.frozen(kw_only=True)
class Envelope:
    """A payload to acknowledge with `{"envelope_id": ...}`."""

    envelope_id: str
    type: str
    payload: Mapping[str, Any]
    retry_attempt: int = 0
    retry_reason: str | None = None


@attrs.frozen
class Unknown:
    """A frame the channel does not understand (logged, ignored); `what` is safe to log."""

    what: str


Frame = Hello | Disconnect | Envelope | Unknown


def parse_frame(text: str) -> Frame:
    """One Socket Mode frame (see the module docstring)."""
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return Unknown("not JSON")
    if not isinstance(frame, dict):
        return Unknown("not an object")
    kind = frame.get("type")
    if kind == "hello":
        count = frame.get("num_connections")
        return Hello(count if isinstance(count, int) and not isinstance(count, bool) else None)
    if kind == "disconnect":
        reason = frame.get("reason")
        return Disconnect(
            reason if isinstance(reason, str) and reason.isidentifier() else "unknown"
        )
    envelope_id = frame.get("envelope_id")
    if isinstance(envelope_id, str) and _ENVELOPE_ID.fullmatch(envelope_id):
        payload = frame.get("payload")
        attempt = frame.get("retry_attempt")
        reason = frame.get("retry_reason")
        return Envelope(
            envelope_id=envelope_id,
            type=kind if isinstance(kind, str) and kind.isidentifier() else "unknown",
            payload=payload if isinstance(payload, dict) else {},
            retry_attempt=attempt if type(attempt) is int and attempt >= 0 else 0,
            retry_reason=reason if isinstance(reason, str) and reason.isidentifier() else None,
        )
    shown = kind if isinstance(kind, str) and kind.isidentifier() else "?"
    return Unknown(f"frame of type {shown[:40]} without an envelope_id")


@attrs.frozen(kw_only=True)
class SlackFile:
    """A file attached to a message, still on Slack (`url` is its `url_private_download`)."""

    id: str
    name: str
    mimetype: str | None
    size: int | None
    url: str


@attrs.frozen(kw_only=True)
class SlackEvent:
    """One message for the channel (see the module docstring). `thread_ts` is
    the thread the message is in (None outside a thread)."""

    event_id: str
    kind: str
    channel: str
    user: str
    text: str
    ts: str
    thread_ts: str | None
    is_group: bool
    addressed: bool
    files: tuple[SlackFile, ...] = ()

    @property
    def reply_thread(self) -> str | None:
        """Where the answer goes: the message's thread; in a channel, a new
        thread under the message; in a DM, the DM itself (None) unless the
        message was in a thread."""
        if self.thread_ts is not None:
            return self.thread_ts
        return self.ts if self.is_group else None

    @property
    def dedup_keys(self) -> tuple[str, str]:
        """The event and the channel's message: a redelivery or the same message
        as another event type has one of them."""
        return (f"event:{self.event_id}", f"ts:{self.channel}:{self.ts}")


def event_id_of(payload: Mapping[str, Any]) -> str | None:
    """The payload's `event_id`, if it is one."""
    event_id = payload.get("event_id")
    return event_id if _matches(event_id, _EVENT_ID) else None


def parse_event(payload: Mapping[str, Any], bot: BotIdentity) -> SlackEvent | None:
    """The message `payload` carries for `bot`, or None (see the module docstring)."""
    event = payload.get("event")
    event_id = payload.get("event_id")
    if not isinstance(event, dict) or not _matches(event_id, _EVENT_ID):
        return None
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        return None
    subtype = event.get("subtype")
    if subtype is not None and subtype not in KEPT_SUBTYPES:
        return None
    if event.get("bot_id") is not None or event.get("bot_profile") is not None:
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if not (_matches(user, SLACK_ID) and _matches(channel, SLACK_ID) and _matches(ts, TS)):
        return None
    if user == bot.user_id:
        return None
    thread_ts = event.get("thread_ts")
    if thread_ts is not None and not _matches(thread_ts, TS):
        return None
    channel_type = event.get("channel_type")
    if channel_type is None and kind == "app_mention":
        channel_type = "im" if channel.startswith("D") else "channel"
    if channel_type not in CHANNEL_TYPES:
        return None
    raw_text = event.get("text", "")
    if raw_text is None:
        raw_text = ""
    if not isinstance(raw_text, str):
        return None
    files = _files(event.get("files"))
    if files is None or (not raw_text.strip() and not files):
        return None
    mention = f"<@{bot.user_id}"
    addressed = kind == "app_mention" or any(
        raw_text[i + len(mention) : i + len(mention) + 1] in (">", "|")
        for i in _find_all(raw_text, mention)
    )
    return SlackEvent(
        event_id=str(event_id),
        kind=str(kind),
        channel=channel,
        user=user,
        text=unescape(valid_utf16(raw_text)),
        ts=ts,
        thread_ts=thread_ts,
        is_group=channel_type != "im",
        addressed=addressed,
        files=files,
    )


def unescape(text: str) -> str:
    """Slack's three escapes undone (`&amp;` last, so `&amp;lt;` stays `&lt;`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _files(raw: object) -> tuple[SlackFile, ...] | None:
    """The message's downloadable files (at most `MAX_FILES`); None when malformed."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    files = []
    for item in raw[:MAX_FILES]:
        if not isinstance(item, dict):
            return None
        file_id, url = item.get("id"), item.get("url_private_download") or item.get("url_private")
        if not _matches(file_id, SLACK_ID) or not isinstance(url, str):
            continue  # a file Slack will not let the bot download (external, tombstoned)
        name = item.get("name")
        size = item.get("size")
        mimetype = item.get("mimetype")
        files.append(
            SlackFile(
                id=file_id,
                name=_CONTROL.sub(" ", valid_utf16(name))[:MAX_FILE_NAME]
                if isinstance(name, str)
                else "",
                mimetype=mimetype.lower()
                if isinstance(mimetype, str) and _MIME.fullmatch(mimetype.lower())
                else None,
                size=size if type(size) is int and size >= 0 else None,
                url=url,
            )
        )
    return tuple(files)


def _matches(value: object, pattern: re.Pattern[str]) -> TypeGuard[str]:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _find_all(text: str, needle: str) -> list[int]:
    found, start = [], text.find(needle)
    while start >= 0:
        found.append(start)
        start = text.find(needle, start + 1)
    return found


@attrs.define
class SeenEvents:
    """The last `capacity` event ids handled (oldest forgotten first)."""

    capacity: int = SEEN_CAPACITY
    _ids: OrderedDict[str, None] = attrs.field(factory=OrderedDict, init=False)

    def __attrs_post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"SeenEvents needs capacity >= 1, got {self.capacity}")

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
