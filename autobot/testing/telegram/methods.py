"""The Bot API methods the fake answers, by lower-case name (the API's names
are case-insensitive), and the ones about identity and updates.

getUpdates follows the real server: `offset` confirms every update below it
(they are never returned again), `limit` is clamped to 1-100 (default 100),
`timeout` to 0-50 s (default 0); with nothing to return and a timeout it
waits in trio time until an update arrives or the timeout passes.
`allowed_updates` is sticky when omitted. A getUpdates arriving while another
one waits ends the waiting one with 409 "Conflict: terminated by other
getUpdates request; ..."; setWebhook ends it with 409 "Conflict: terminated
by setWebhook request"; while a webhook is set getUpdates is 409 "Conflict:
can't use getUpdates method while webhook is active; ...". (The real server
also delays a repeated 409 by 3 s; the fake answers at once, so a client
that retries in a tight loop shows up as a burst of calls.)

setWebhook validates url and secret_token, clamps max_connections to 1-100
(default 40), honours drop_pending_updates and allowed_updates, sets a URL at
most once a second (429 retry_after 1 otherwise), and answers "Webhook is
already set" when nothing changed; an empty url deletes the webhook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from autobot.testing.http_server import HttpResponse
from autobot.testing.telegram.records import PollRecord
from autobot.testing.telegram.request import ApiError, Arguments, ok_response
from autobot.testing.telegram.sending import (
    get_file,
    media_sender,
    send_chat_action,
    send_message,
)
from autobot.testing.telegram.state import TelegramState
from autobot.testing.telegram.webhook import (
    WebhookSettings,
    check_secret_token,
    check_webhook_url,
)

Method = Callable[[TelegramState, Arguments], Awaitable[HttpResponse]]

MAX_LIMIT = 100
MAX_POLL_TIMEOUT = 50  # seconds, the real server's LONG_POLL_MAX_TIMEOUT
DEFAULT_MAX_CONNECTIONS = 40
MAX_CONNECTIONS = 100
SET_WEBHOOK_INTERVAL = 1.0  # seconds between two setWebhook calls that set a URL
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_SET_WEBHOOK = "Conflict: terminated by setWebhook request"


async def get_me(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """getMe: the bot's User with its capabilities."""
    return ok_response(state.bot.get_me())


async def get_updates(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """getUpdates: the unconfirmed updates from `offset`, waiting up to `timeout`."""
    offset = arguments.integer("offset")
    limit = arguments.integer("limit")
    timeout = arguments.integer("timeout")
    allowed = arguments.structured("allowed_updates")
    state.polls.append(
        PollRecord(
            offset=offset,
            limit=limit,
            timeout=timeout,
            allowed_updates=allowed,
            at=trio.current_time(),
        )
    )
    if state.webhook.settings is not None:
        raise ApiError(409, WEBHOOK_ACTIVE)
    state.updates.set_allowed(allowed)
    state.updates.confirm(offset or 0)
    ticket = state.begin_poll()
    state.changed()
    wait = 0 if timeout is None else min(max(timeout, 0), MAX_POLL_TIMEOUT)
    try:
        with trio.move_on_after(wait):
            await state.until(lambda: bool(state.updates.pending) or ticket.ended_by is not None)
    finally:
        if state.active_poll is ticket:
            state.active_poll = None
    if ticket.ended_by is not None:
        raise ApiError(409, ticket.ended_by)
    count = MAX_LIMIT if limit is None else min(max(limit, 1), MAX_LIMIT)
    return ok_response(state.updates.take(count))


async def set_webhook(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """setWebhook: deliver updates to `url` from now on. Every argument is
    checked before anything changes."""
    url = arguments.string("url") or ""
    if not url:
        return await delete_webhook(state, arguments)
    now = trio.current_time()
    if now < state.webhook.next_set_allowed:
        raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
    check_webhook_url(url)
    secret = arguments.string("secret_token") or ""
    check_secret_token(secret)
    connections = arguments.integer("max_connections")
    allowed = arguments.structured("allowed_updates")
    drop_pending = arguments.flag("drop_pending_updates")
    settings = WebhookSettings(
        url=url,
        secret_token=secret or None,
        max_connections=(
            DEFAULT_MAX_CONNECTIONS
            if connections is None
            else min(max(connections, 1), MAX_CONNECTIONS)
        ),
    )
    state.webhook.next_set_allowed = now + SET_WEBHOOK_INTERVAL
    allowed_before = state.updates.allowed
    state.updates.set_allowed(allowed)
    if drop_pending:
        state.updates.clear()
    state.end_waiting_poll(TERMINATED_BY_SET_WEBHOOK)
    if state.webhook.settings == settings and state.updates.allowed == allowed_before:
        return ok_response(True, "Webhook is already set")
    state.webhook.settings = settings
    state.changed()
    return ok_response(True, "Webhook was set")


async def delete_webhook(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """deleteWebhook: back to getUpdates; pending updates stay unless
    drop_pending_updates."""
    if arguments.flag("drop_pending_updates"):
        state.updates.clear()
    was_set = state.webhook.settings is not None
    state.webhook.settings = None
    state.changed()
    return ok_response(True, "Webhook was deleted" if was_set else "Webhook is already deleted")


async def get_webhook_info(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """getWebhookInfo: the webhook, pending count and last delivery error."""
    return ok_response(
        state.webhook.info(
            pending=len(state.updates.pending), allowed=state.updates.allowed_if_not_default
        )
    )


METHODS: dict[str, Method] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "sendchataction": send_chat_action,
    "sendphoto": media_sender("sendPhoto"),
    "senddocument": media_sender("sendDocument"),
    "sendvoice": media_sender("sendVoice"),
    "getfile": get_file,
}
