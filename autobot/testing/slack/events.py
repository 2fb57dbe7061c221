"""The Events API payloads the Slack fake delivers, built like Slack builds them.

Slack's text is escaped (`&amp;`, `&lt;`, `&gt;`), mentions are `<@U…>`;
`escape` does the first for the text a test writes (tests write mentions as
`<@U…>` tokens through `mention`). Each event gets an `event_id` and is
wrapped in an `events_api` payload with the team and app ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TEAM_ID = "T0FAKE01"
APP_ID = "A0FAKE01"
API_APP_ID = APP_ID


def escape(text: str) -> str:
    """What Slack does to a user's `&`, `<`, `>` before it sends the text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str) -> str:
    """The token a mention of `user_id` is in Slack's text."""
    return f"<@{user_id}>"


def message_event(
    *,
    user: str,
    channel: str,
    channel_type: str,
    text: str,
    ts: str,
    thread_ts: str | None = None,
    files: Sequence[Mapping[str, Any]] = (),
    kind: str = "message",
) -> dict[str, Any]:
    """A `message` (or, with `kind`, `app_mention`) event as Slack sends it;
    `text` is already in Slack's form. A message with files is a
    `file_share`; `app_mention` carries no `channel_type`."""
    event: dict[str, Any] = {
        "type": kind,
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "client_msg_id": f"msg-{ts}",
    }
    if kind == "message":
        event["channel_type"] = channel_type
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = [dict(file) for file in files]
        if kind == "message":
            event["subtype"] = "file_share"
    return event


def events_api_payload(event: Mapping[str, Any], event_id: str, event_time: int) -> dict[str, Any]:
    """The `payload` of an `events_api` envelope around `event`."""
    return {
        "token": "verification-token-unused-in-socket-mode",
        "team_id": TEAM_ID,
        "api_app_id": API_APP_ID,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [{"team_id": TEAM_ID, "is_bot": True}],
        "is_ext_shared_channel": False,
    }
