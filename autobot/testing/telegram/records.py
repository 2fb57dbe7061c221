"""What the Bot API fake saw and did, as immutable records tests assert on.

Times (`at`) are `trio.current_time()` when the fake received the request, so
an autojump test can assert exact virtual times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from autobot.testing.telegram.entities import Entity
from autobot.testing.telegram.request import Arguments, UploadedFile


@attrs.frozen(kw_only=True)
class ApiCall:
    """One request to `/bot<token>/<method>`, whatever it was answered."""

    method: str  # as the client spelled it
    http_method: str
    arguments: Arguments
    token_ok: bool
    at: float


@attrs.frozen(kw_only=True)
class Download:
    """One request to `/file/bot<token>/<file_path>`; `served` when bytes went back."""

    file_path: str
    served: bool
    at: float


@attrs.frozen(kw_only=True)
class PollRecord:
    """One getUpdates call, its arguments decoded (None when not sent)."""

    offset: int | None
    limit: int | None
    timeout: int | None
    allowed_updates: object  # as sent: a list (JSON or decoded form text) or None
    at: float


@attrs.frozen(kw_only=True)
class SentMessage:
    """A message the bot sent: what the user sees (plain text or caption and
    its entities, after parse_mode) and how it was sent."""

    method: str  # sendMessage, sendPhoto, sendDocument, sendVoice
    chat_id: int
    message_id: int
    text: str
    entities: tuple[Entity, ...]
    parse_mode: str | None
    thread_id: int | None
    reply_to_message_id: int | None
    upload: UploadedFile | None  # the multipart file, for media sent as an upload
    at: float
    message: Mapping[str, Any]  # the Message object the API answered


@attrs.frozen(kw_only=True)
class ChatAction:
    """One sendChatAction call that succeeded."""

    chat_id: int
    action: str
    thread_id: int | None
    at: float


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One POST of an update to the webhook: the status the receiver answered,
    or `error` when no answer came."""

    update_id: int
    url: str
    secret_token: str | None  # the X-Telegram-Bot-Api-Secret-Token header sent
    at: float
    status: int | None
    error: str | None

    @property
    def accepted(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
