"""The Web API methods the Slack fake answers, each a function of the server state and its arguments.

`METHODS` maps a method name to the token it needs ("bot" or "app") and its
handler, which returns the answer's fields (`ok: true` is added) or raises
`MethodError` with Slack's error code. Arguments arrive as Slack reads
them: a JSON body or form fields (all strings).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from autobot.testing.slack.events import TEAM_ID
from autobot.testing.slack.records import PostedMessage, Upload
from autobot.testing.slack.state import SlackState

MAX_TEXT = 40_000


class MethodError(Exception):
    """An `{"ok": false, "error": code}` answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


Handler = Callable[[SlackState, Mapping[str, Any]], dict[str, Any]]


def _auth_test(fake: SlackState, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "url": "https://fake-workspace.slack.com/",
        "team": "Fake Workspace",
        "user": "autobot",
        "team_id": TEAM_ID,
        "user_id": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "is_enterprise_install": False,
    }


def _connections_open(fake: SlackState, arguments: Mapping[str, Any]) -> dict[str, Any]:
    if fake.socket_url_override is not None:
        return {"url": fake.socket_url_override}
    ticket = fake.new_ticket()
    return {"url": f"ws://127.0.0.1:{fake.socket_port}/link/?ticket={ticket}&app_id=fake"}


def _post_message(fake: SlackState, arguments: Mapping[str, Any]) -> dict[str, Any]:
    channel = arguments.get("channel")
    text = arguments.get("text")
    if not isinstance(channel, str) or channel not in fake.channels:
        raise MethodError("channel_not_found")
    if not isinstance(text, str) or not text.strip():
        raise MethodError("no_text")
    if len(text) > MAX_TEXT:
        raise MethodError("msg_too_long")
    thread_ts = arguments.get("thread_ts")
    if thread_ts is not None and not isinstance(thread_ts, str):
        raise MethodError("invalid_arguments")
    ts = fake.new_ts()
    fake.record_posted(
        PostedMessage(
            channel=channel,
            text=text,
            thread_ts=thread_ts,
            ts=ts,
            at=fake.now(),
            arguments=dict(arguments),
        )
    )
    message = {"type": "message", "user": fake.bot_user_id, "bot_id": fake.bot_id, "text": text}
    return {"channel": channel, "ts": ts, "message": {**message, "ts": ts}}


def _get_upload_url(fake: SlackState, arguments: Mapping[str, Any]) -> dict[str, Any]:
    filename, length = arguments.get("filename"), arguments.get("length")
    if not isinstance(filename, str) or not filename:
        raise MethodError("invalid_arguments")
    if not isinstance(length, str) or not length.isdigit() or int(length) < 1:
        raise MethodError("invalid_arguments")
    file_id = fake.reserve_upload(filename, int(length))
    return {"upload_url": f"{fake.base_url}/upload/{file_id}", "file_id": file_id}


def _complete_upload(fake: SlackState, arguments: Mapping[str, Any]) -> dict[str, Any]:
    try:
        files = json.loads(str(arguments.get("files", "")))
    except ValueError:
        raise MethodError("invalid_arguments") from None
    channel = arguments.get("channel_id")
    if not isinstance(channel, str) or channel not in fake.channels:
        raise MethodError("channel_not_found")
    if not isinstance(files, list) or not files:
        raise MethodError("invalid_arguments")
    thread_ts = arguments.get("thread_ts")
    shared = []
    for item in files:
        file_id = item.get("id") if isinstance(item, dict) else None
        reserved = fake.reserved.get(file_id) if isinstance(file_id, str) else None
        if reserved is None or reserved.data is None:
            raise MethodError("file_not_found")
        assert isinstance(file_id, str)
        title = item.get("title") or reserved.filename
        fake.uploads.append(
            Upload(
                file_id=file_id,
                title=str(title),
                data=reserved.data,
                channel=channel,
                thread_ts=thread_ts if isinstance(thread_ts, str) else None,
                at=fake.now(),
            )
        )
        shared.append({"id": file_id, "title": title})
    fake.changed()
    return {"files": shared}


METHODS: dict[str, tuple[str, Handler]] = {
    "auth.test": ("bot", _auth_test),
    "apps.connections.open": ("app", _connections_open),
    "chat.postMessage": ("bot", _post_message),
    "files.getUploadURLExternal": ("bot", _get_upload_url),
    "files.completeUploadExternal": ("bot", _complete_upload),
}
