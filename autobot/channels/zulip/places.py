"""Where a Zulip conversation is: chat ids and reply destinations (pure).

A conversation is a session (`zulip:<chat_id>`), so its chat id must say
where every message of it goes, replies, `message` tool notes and cron
jobs alike, across restarts:

- a direct message: the sender's user id, `"42"`;
- a stream topic: `"stream:<stream id>:<topic>"`, the topic with `%`,
  whitespace and unprintable characters percent-encoded (UTF-8), so the id
  is one printable word (`pairing.is_valid_id`), e.g.
  `stream:7:lunch%20plans`. A topic whose encoded form would make the id
  longer than `MAX_CHAT_ID` (only possible with dozens of invisible
  characters) is named by a digest instead, `stream:7:#<hex>`: replies still
  find it through the message's `thread_id` (the topic as written), which
  every reply to a message carries.

`destination(chat_id, thread_id)` reverses this; it raises `ValueError` for
a chat id that is neither form (nothing is sent).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse

import attrs

from autobot.channels.pairing import MAX_ID_LENGTH

MAX_CHAT_ID = MAX_ID_LENGTH
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")
_STREAM = re.compile(r"stream:(?P<stream>[1-9][0-9]{0,18}):(?P<topic>.*)", re.DOTALL)
_DIGEST = re.compile(r"#[0-9a-f]{32}")
_DIGEST_CHARS = 32


@attrs.frozen
class DirectTarget:
    """A direct message to one user."""

    user_id: int


@attrs.frozen
class StreamTarget:
    """A message to a topic of a stream."""

    stream_id: int
    topic: str


def direct_chat_id(user_id: int) -> str:
    """The chat id of the direct conversation with `user_id`."""
    return str(user_id)


def stream_chat_id(stream_id: int, topic: str) -> str:
    """The chat id of topic `topic` of stream `stream_id` (see the module docstring)."""
    readable = f"stream:{stream_id}:{encode_topic(topic)}"
    if len(readable) <= MAX_CHAT_ID:
        return readable
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()
    return f"stream:{stream_id}:#{digest[:_DIGEST_CHARS]}"


def encode_topic(topic: str) -> str:
    """`topic` with `%`, `#` at its start, whitespace and unprintable
    characters percent-encoded: one printable word that `decode_topic`
    turns back into `topic`."""
    parts = []
    for index, char in enumerate(topic):
        plain = char.isprintable() and not char.isspace() and char != "%"
        if plain and not (index == 0 and char == "#"):  # `#...` names a digest
            parts.append(char)
        else:
            parts.append(urllib.parse.quote(char, safe="", errors="surrogatepass"))
    return "".join(parts)


def decode_topic(encoded: str) -> str:
    """The topic `encode_topic` encoded. Raises ValueError for text it
    could not have written (a bare `%`, a byte sequence that is not UTF-8)."""
    if re.search(r"%(?![0-9A-F]{2})", encoded):
        raise ValueError("a stray % in an encoded topic")
    return urllib.parse.unquote(encoded, errors="strict")


def destination(chat_id: str, thread_id: str | None) -> DirectTarget | StreamTarget:
    """Where a message for `chat_id` goes. For a stream chat id named by a
    digest, `thread_id` must be the topic. Raises ValueError naming the
    problem for anything else."""
    if _USER_ID.fullmatch(chat_id):
        return DirectTarget(int(chat_id))
    found = _STREAM.fullmatch(chat_id)
    if found is None:
        raise ValueError("not a Zulip chat id (a user id, or stream:<id>:<topic>)")
    stream_id, encoded = int(found["stream"]), found["topic"]
    if not _DIGEST.fullmatch(encoded):
        return StreamTarget(stream_id, decode_topic(encoded))
    if thread_id is None or stream_chat_id(stream_id, thread_id) != chat_id:
        raise ValueError("this topic's name is too long for its chat id; the reply names no topic")
    return StreamTarget(stream_id, thread_id)
