"""Webhook mode: settings checks and state (the delivery loop is `delivery`).

`check_webhook_url` and `check_secret_token` refuse what setWebhook refuses,
with the API's descriptions. One departure: a loopback URL may be plain HTTP
on any port, because the receivers in tests (the gateway's HTTP actor) are;
any other host needs HTTPS on port 443, 80, 88 or 8443 as on the real API.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from typing import Any

import attrs

from autobot.testing.telegram.records import WebhookDelivery
from autobot.testing.telegram.request import ApiError

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
