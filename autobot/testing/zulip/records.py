"""What the Zulip fake knows and records: users, streams, sent messages, calls, uploads."""

from __future__ import annotations

from collections.abc import Mapping

import attrs


@attrs.frozen(kw_only=True)
class ZulipUser:
    """A user of the fake organization (the bot is one too)."""

    id: int
    email: str
    full_name: str
    is_bot: bool = False

    def recipient(self) -> dict[str, object]:
        """How a direct message lists this participant (`display_recipient`)."""
        return {
            "id": self.id,
            "email": self.email,
            "full_name": self.full_name,
            "is_mirror_dummy": False,
        }


@attrs.frozen(kw_only=True)
class ZulipStream:
    """A stream; the bot receives its messages only when `subscribed`."""

    id: int
    name: str
    subscribed: bool = True


@attrs.frozen(kw_only=True)
class SentMessage:
    """A message the bot sent: to `recipients` (direct: every participant
    but the bot) or to `topic` of `stream_id`, at trio time `at`."""

    id: int
    kind: str  # "private" or "stream"
    recipients: tuple[int, ...]
    stream_id: int | None
    topic: str | None
    content: str
    at: float


@attrs.frozen(kw_only=True)
class ApiCall:
    """One request: its endpoint (`register`, `events`, `messages`,
    `users/me`, `user_uploads`, `download`), method, arguments, whether its credentials
    were accepted, and when it arrived (trio time)."""

    endpoint: str
    http_method: str
    arguments: Mapping[str, str]
    auth_ok: bool
    at: float


@attrs.frozen(kw_only=True)
class Download:
    """An upload fetched (`served`: it existed and the credentials were good)."""

    path: str
    served: bool
    authenticated: bool
    at: float


@attrs.frozen(kw_only=True)
class Upload:
    """A file the bot uploaded: where it is stored (its link path), the name
    and content type its multipart part gave, its content, and when it
    arrived (trio time)."""

    path: str
    file_name: str
    content_type: str
    content: bytes
    at: float
