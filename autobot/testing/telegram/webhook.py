"""Webhook mode: settings checks, state, and the delivery loop.

`check_webhook_url` and `check_secret_token` refuse what setWebhook refuses,
with the API's descriptions. One departure: a loopback URL may be plain HTTP
on any port, because the receivers in tests (the gateway's HTTP actor) are;
any other host needs HTTPS on port 443, 80, 88 or 8443 as on the real API.

`deliver_updates` is the fake's sending side: while a webhook is set it POSTs
the oldest pending update as JSON, with X-Telegram-Bot-Api-Secret-Token when
a secret was set; a 2xx answer confirms the update, anything else (or no
answer within the timeout) is recorded as the last error and the same update
is retried after the retry delay. One delivery at a time, in update order
(the real API may run up to max_connections in parallel).
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from autobot.testing.telegram.records import WebhookDelivery
from autobot.testing.telegram.request import ApiError

if TYPE_CHECKING:
    from autobot.testing.fake_telegram import FakeTelegram

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]*")
MAX_SECRET_CHARS = 256
WEBHOOK_PORTS = frozenset({443, 80, 88, 8443})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_webhook_url(url: str) -> None:
    """Raises `ApiError` 400 for a URL setWebhook would refuse."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ApiError(400, "Bad Request: invalid webhook URL specified") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, "Bad Request: invalid webhook URL specified")
    if parts.hostname in LOOPBACK_HOSTS:
        return
    if parts.scheme != "https":
        raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    if (port or 443) not in WEBHOOK_PORTS:
        raise ApiError(
            400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
        )


def check_secret_token(secret: str) -> None:
    """Raises `ApiError` 400 unless `secret` is at most 256 of A-Z a-z 0-9 _ -."""
    if len(secret) > MAX_SECRET_CHARS:
        raise ApiError(400, "Bad Request: secret token is too long")
    if not SECRET_TOKEN.fullmatch(secret):
        raise ApiError(400, "Bad Request: secret token contains unallowed characters")


@attrs.frozen(kw_only=True)
class WebhookSettings:
    """What setWebhook set."""

    url: str
    secret_token: str | None
    max_connections: int


@attrs.define
class WebhookState:
    """The current webhook (None in polling mode), the last delivery error,
    every delivery, and when setWebhook may next set a URL (at most once a
    second, as on the real API)."""

    settings: WebhookSettings | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    deliveries: list[WebhookDelivery] = attrs.field(factory=list)
    next_set_allowed: float = -math.inf

    def info(self, *, pending: int, allowed: list[str] | None) -> dict[str, Any]:
        """The getWebhookInfo result."""
        info: dict[str, Any] = {
            "url": self.settings.url if self.settings else "",
            "has_custom_certificate": False,
            "pending_update_count": pending,
        }
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        if self.settings is not None:
            info["max_connections"] = self.settings.max_connections
            info["ip_address"] = "127.0.0.1"
        if allowed is not None:
            info["allowed_updates"] = allowed
        return info


async def deliver_updates(fake: FakeTelegram, client: httpx.AsyncClient) -> None:
    """Deliver pending updates to the webhook, forever (until cancelled)."""
    while True:
        await fake.until(lambda: fake.webhook.settings is not None and bool(fake.updates.pending))
        settings = fake.webhook.settings
        assert settings is not None  # the condition above, with no checkpoint since
        update = fake.updates.pending[0]
        at = trio.current_time()
        status: int | None = None
        error: str | None = "Read timeout expired"
        with trio.move_on_after(fake.webhook_timeout):
            status, error = await _post(client, settings, update)
        delivery = WebhookDelivery(
            update_id=update["update_id"],
            url=settings.url,
            secret_token=settings.secret_token,
            at=at,
            status=status,
            error=error,
        )
        fake.webhook.deliveries.append(delivery)
        if delivery.accepted:
            fake.updates.drop(update["update_id"])
        else:
            fake.webhook.last_error_date = fake.unix_time()
            fake.webhook.last_error_message = delivery.error
        fake.changed()
        if not delivery.accepted:
            await trio.sleep(fake.webhook_retry_delay)


async def _post(
    client: httpx.AsyncClient, settings: WebhookSettings, update: dict[str, Any]
) -> tuple[int | None, str | None]:
    """POST one update: the receiver's status, and the error to record (None on 2xx)."""
    headers = {"content-type": "application/json"}
    if settings.secret_token:
        headers[SECRET_HEADER] = settings.secret_token
    try:
        response = await client.post(
            settings.url, content=json.dumps(update).encode(), headers=headers
        )
    except httpx.ConnectError:
        return None, "Connection refused"
    except httpx.HTTPError as failure:
        return None, f"Connection failed: {type(failure).__name__}"
    status = response.status_code
    if response.is_success:
        return status, None
    try:
        reason = " " + HTTPStatus(status).phrase
    except ValueError:  # a status code the standard does not name
        reason = ""
    return status, f"Wrong response from the webhook: {status}{reason}"
