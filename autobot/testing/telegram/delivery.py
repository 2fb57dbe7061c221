"""The fake's webhook sending side: `deliver_updates`.

While a webhook is set it POSTs the oldest pending update as JSON, with
X-Telegram-Bot-Api-Secret-Token when a secret was set; a 2xx answer confirms
the update, anything else (or no answer within the timeout) is recorded as
the last error and the same update is retried after the retry delay. One
delivery at a time, in update order (the real API may run up to
max_connections in parallel).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import httpx
import trio

from autobot.testing.telegram.records import WebhookDelivery
from autobot.testing.telegram.state import TelegramState
from autobot.testing.telegram.webhook import SECRET_HEADER, WebhookSettings


async def deliver_updates(state: TelegramState, client: httpx.AsyncClient) -> None:
    """Deliver pending updates to the webhook, forever (until cancelled)."""
    while True:
        await state.until(
            lambda: state.webhook.settings is not None and bool(state.updates.pending)
        )
        settings = state.webhook.settings
        assert settings is not None  # the condition above, with no checkpoint since
        update = state.updates.pending[0]
        at = trio.current_time()
        status: int | None = None
        error: str | None = "Read timeout expired"
        with trio.move_on_after(state.webhook_timeout):
            status, error = await _post(client, settings, update)
        delivery = WebhookDelivery(
            update_id=update["update_id"],
            url=settings.url,
            secret_token=settings.secret_token,
            at=at,
            status=status,
            error=error,
        )
        state.webhook.deliveries.append(delivery)
        if delivery.accepted:
            state.updates.drop(update["update_id"])
        else:
            state.webhook.last_error_date = state.unix_time()
            state.webhook.last_error_message = delivery.error
        state.changed()
        if not delivery.accepted:
            await trio.sleep(state.webhook_retry_delay)


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
