"""Webhooks: a chat network POSTs updates to the gateway's HTTP actor.

`WebhookEndpoint` is what the HTTP actor calls for a POST on its path: it
checks the shared secret in constant time (403, nothing else happens, on a
mismatch or a missing header), decodes the JSON body (400 if it is not a
JSON object), hands the update to the channel actor through the channel's
webhook mailbox with a one-shot reply channel, and answers 200 only once the
channel says the update is journaled (or deliberately ignored). A full
mailbox or a channel that does not answer in time gets 503, which the
network retries. The body size is capped by the HTTP actor before this runs.

`load_or_create_secret` keeps the secret in a 0600 file of the bot
directory (generated once, never in `config.yml`).
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.http.webhooks import WebhookAnswer
from autobot.security.regular_file import FileRefused, read_regular_file
from autobot.store.atomic import ensure_private_dir, write_private_file

WEBHOOK_MAILBOX_SIZE = 64  # updates waiting for the channel; beyond that the network retries
ANSWER_SECONDS = 10.0  # Telegram waits about this long before it retries
SECRET_BYTES = 32
MAX_SECRET_FILE = 1024


@attrs.frozen(kw_only=True)
class WebhookDelivery:
    """One update for the channel actor, and where it says it was handled."""

    update: Mapping[str, Any]
    handled: trio.MemorySendChannel[bool]


@attrs.define(kw_only=True, eq=False)
class WebhookEndpoint:
    """The HTTP side of one channel's webhook (see the module docstring)."""

    secret: str
    header: str  # lower-case header name carrying the secret
    deliveries: trio.MemorySendChannel[WebhookDelivery]

    async def __call__(self, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
        given = headers.get(self.header, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return WebhookAnswer(status=403, body=b"forbidden\n")
        try:
            update = json.loads(body)
        except ValueError:
            return WebhookAnswer(status=400, body=b"not JSON\n")
        if not isinstance(update, dict):
            return WebhookAnswer(status=400, body=b"not an update\n")
        handled_send, handled_receive = trio.open_memory_channel[bool](1)  # one answer
        with handled_receive:
            try:
                self.deliveries.send_nowait(WebhookDelivery(update=update, handled=handled_send))
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                handled_send.close()
                return WebhookAnswer(status=503, body=b"busy\n")
            with trio.move_on_after(ANSWER_SECONDS):
                try:
                    if await handled_receive.receive():
                        return WebhookAnswer(status=200, body=b"ok\n")
                except trio.EndOfChannel:
                    pass
        return WebhookAnswer(status=503, body=b"not handled\n")


def load_or_create_secret(path: Path) -> str:
    """The webhook secret stored at `path` (0600), created on first use:
    43 characters of A-Z a-z 0-9 _ - (what Telegram accepts). Raises OSError
    or FileRefused for a file that is not a regular file."""
    try:
        text = read_regular_file(path, limit=MAX_SECRET_FILE).decode("ascii").strip()
    except FileNotFoundError:
        text = ""
    except (UnicodeDecodeError, FileRefused) as exc:
        raise OSError(f"webhook secret file {path.name} is unusable: {exc}") from exc
    if text:
        return text
    secret = secrets.token_urlsafe(SECRET_BYTES)
    ensure_private_dir(path.parent)
    write_private_file(path, (secret + "\n").encode())
    return secret
