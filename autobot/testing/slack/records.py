"""What the Slack fake saw and did, as immutable records tests assert on.

Times (`at`) are `trio.current_time()` in the fake when it happened, so an
autojump test can assert exact virtual times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class SlackUser:
    """A person in the fake workspace (`id` like `U1001`)."""

    id: str
    name: str

    @property
    def dm(self) -> str:
        """The id of this user's direct-message channel with the bot."""
        return "D" + self.id[1:]


@attrs.frozen(kw_only=True)
class ApiCall:
    """One Web API request, whatever it was answered. `token` is which of the
    fake's tokens the Authorization header carried: "bot", "app", "wrong" or
    "none"."""

    method: str
    arguments: Mapping[str, Any]
    token: str
    at: float


@attrs.frozen(kw_only=True)
class PostedMessage:
    """A chat.postMessage the fake accepted: the text exactly as it came over
    the wire (mrkdwn, escaped), where it went, and every argument sent."""

    channel: str
    text: str
    thread_ts: str | None
    ts: str
    at: float
    arguments: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class Delivery:
    """One envelope sent over a socket: which event, on which connection, which try."""

    envelope_id: str
    event_id: str
    connection: int
    retry_attempt: int
    at: float


@attrs.frozen(kw_only=True)
class Ack:
    """An acknowledgement received; `known` when it names an envelope delivered
    on that same connection."""

    envelope_id: str
    connection: int
    known: bool
    at: float


@attrs.frozen(kw_only=True)
class Download:
    """One GET of a private file URL; `authorized` when it carried the bot
    token, `served` when bytes (or a redirect) went back."""

    path: str
    authorized: bool
    served: bool
    at: float


@attrs.frozen(kw_only=True)
class Upload:
    """A file shared with files.completeUploadExternal: its bytes as POSTed."""

    file_id: str
    title: str
    data: bytes
    channel: str
    thread_ts: str | None
    at: float
