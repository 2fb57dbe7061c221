"""The message values every channel exchanges with the session router.

A channel actor turns what a chat network delivers into `InboundMessage`s for
the router, and sends every `OutboundMessage` it receives back to the network.
Both are immutable values (they cross actor boundaries); the session key
`channel:chat_id` is the unit of conversation, rate limiting and cron ownership.
"""

from __future__ import annotations

import enum

import attrs


def session_key(channel: str, chat_id: str) -> str:
    """The key of one conversation: `channel:chat_id` (e.g. `telegram:42`)."""
    return f"{channel}:{chat_id}"


class InboundKind(enum.Enum):
    """Where an inbound message comes from."""

    USER = "user"  # a person wrote in the chat
    SUBAGENT = "subagent"  # a background subagent of this session finished
    CRON = "cron"  # a scheduled job fired for this session


@attrs.frozen(kw_only=True)
class InboundMessage:
    """One message for the agent of conversation `channel:chat_id`.

    `sender_id` identifies the author on the network (already authorised by
    the channel's allow-list); `content` is the text as delivered.
    """

    channel: str
    chat_id: str
    content: str
    sender_id: str = ""
    kind: InboundKind = InboundKind.USER

    @property
    def session_key(self) -> str:
        return session_key(self.channel, self.chat_id)


@attrs.frozen(kw_only=True)
class OutboundMessage:
    """Text the assistant sends to conversation `channel:chat_id`.

    `final` marks the reply that ends a turn (progress messages from the
    `message` tool are not final); `is_error` marks a generic apology sent
    because something failed (details are in the log). Chat channels send
    every message the same way; the terminal channel uses both flags to know
    when `autobot agent -m` is done and what its exit status is.
    `failure` is the log-safe reason of an apology (e.g. `anthropic: HTTP 401
    authentication_error after 1 attempt`) for the owner's terminal only:
    chat channels send `content` and never this.
    """

    channel: str
    chat_id: str
    content: str
    final: bool = False
    is_error: bool = False
    failure: str | None = None

    @property
    def session_key(self) -> str:
        return session_key(self.channel, self.chat_id)
