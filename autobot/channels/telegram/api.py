"""`TelegramApi`: the Telegram Bot API over an injected `httpx.AsyncClient` (the thin shell).

Methods go to `{api_base}/bot<token>/<method>` as a JSON body (multipart for
uploads); files come from `{api_base}/file/bot<token>/<file_path>`. Every
answer is bounded in size and read in the Bot API envelope; every failure is
one `TelegramError` (see `errors`, whose names this module re-exports):
`NetworkTrouble` also for no answer (connection refused or dropped, no answer
in time), `FileTooLarge` for a download beyond the caller's cap, refused
before its body is read in full.

The token never appears in an error's text or repr: httpx exceptions (their
text and their request carry the URL) are replaced, never chained, and text
from the server is scrubbed of it. Each call is bounded as a whole in trio
time (`call_timeout`; getUpdates: its poll timeout plus `poll_margin`;
uploads and downloads: `transfer_timeout`), httpx's own timeouts are off so
the bound is exact. Redirects are never followed (they would carry the token
elsewhere). Argument errors raise `ValueError` before any request. The client
is the caller's: `TelegramApi` never closes it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import httpx
import trio

from autobot.channels.json_fields import is_int
from autobot.channels.telegram.errors import (
    BadRequest,
    Conflict,
    FileTooLarge,
    Forbidden,
    NetworkTrouble,
    RateLimited,
    ServerError,
    TelegramError,
    Unauthorized,
    answer_result,
    is_transient,
)
from autobot.channels.telegram.render import Entity, utf16_len
from autobot.channels.utf16 import valid_utf16
from autobot.config.secret import REDACTED, Secret
from autobot.http.body import BodyTooLarge, Overflow, declared_over, read_capped

__all__ = [
    "CHAT_ACTIONS",
    "MAX_CAPTION_UNITS",
    "MAX_DESCRIPTION",
    "MAX_PHOTO_BYTES",
    "MAX_POLL_TIMEOUT",
    "MAX_TEXT_UNITS",
    "MAX_UPDATES",
    "MAX_UPLOAD_BYTES",
    "BadRequest",
    "BotIdentity",
    "Conflict",
    "FileTooLarge",
    "Forbidden",
    "NetworkTrouble",
    "RateLimited",
    "ServerError",
    "TelegramApi",
    "TelegramError",
    "Unauthorized",
    "UploadMethod",
    "is_transient",
]

MAX_TEXT_UNITS = 4096  # sendMessage text, UTF-16 code units
MAX_CAPTION_UNITS = 1024
MAX_POLL_TIMEOUT = 50  # seconds: the API's longest long poll
MAX_UPDATES = 100
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto's upload limit
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # any other upload
MAX_DESCRIPTION = 500  # characters of a server's description kept in an error
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
UploadMethod = Literal["sendPhoto", "sendDocument"]

_TOKEN = re.compile(r"[0-9]{1,19}:[A-Za-z0-9_-]{1,200}")
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_NUMERIC_CHAT = re.compile(r"-?[0-9]{1,19}")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\"]')
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})
_JSON_HEADERS = {"content-type": "application/json"}


@attrs.frozen(kw_only=True)
class BotIdentity:
    """Who the bot is (`getMe`): its id and username (for mention detection)
    and the capabilities the channel adapts to."""

    id: int
    username: str
    can_read_all_group_messages: bool = False
    has_topics_enabled: bool = False


def _as_secret(token: Secret | str) -> Secret:
    secret = token if isinstance(token, Secret) else Secret(token)
    value = secret.reveal()
    if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
        raise ValueError("the bot token is not of the form 123456789:AAE-letters_digits")
    return secret


def _without_trailing_slash(api_base: str) -> str:
    return api_base.rstrip("/")


def _check_api_base(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """https, or http to a loopback host only (a local Bot API server, a test fake)."""
    parts = urllib.parse.urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise ValueError(f"api_base must be an http(s) URL without query, not {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("api_base must not carry user information")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(f"api_base must use https unless its host is loopback, not {value!r}")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"TelegramApi.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class TelegramApi:
    """One bot's Bot API client. Owns nothing but its settings: `client` is the
    caller's (one connection pool per channel), `token` a `Secret` (a str is
    wrapped) checked for its form. `call_timeout`, `poll_margin` and
    `transfer_timeout` bound each call (seconds); `max_answer_bytes` bounds an
    answer's body. Construction raises `ValueError` for a malformed token or
    `api_base` (http only to loopback) and non-positive limits."""

    client: httpx.AsyncClient = attrs.field(repr=False)
    api_base: str = attrs.field(converter=_without_trailing_slash, validator=_check_api_base)
    token: Secret = attrs.field(converter=_as_secret, repr=False)
    call_timeout: float = attrs.field(default=30.0, validator=_positive)
    poll_margin: float = attrs.field(default=10.0, validator=_positive)
    transfer_timeout: float = attrs.field(default=120.0, validator=_positive)
    max_answer_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=_positive)

    # ---- identity and updates -----------------------------------------------------------

    async def get_me(self) -> BotIdentity:
        """getMe: the bot's id, username and capabilities."""
        result = _object(await self._call_json("getMe", {}), "getMe")
        bot_id, username = result.get("id"), result.get("username")
        if not is_int(bot_id) or not isinstance(username, str) or not _USERNAME.fullmatch(username):
            raise NetworkTrouble(
                0, "answered a bot without a valid id and username", method="getMe"
            )
        return BotIdentity(
            id=bot_id,
            username=username,
            can_read_all_group_messages=result.get("can_read_all_group_messages") is True,
            has_topics_enabled=result.get("has_topics_enabled") is True,
        )

    async def delete_webhook(self, *, drop_pending: bool = False) -> None:
        """deleteWebhook: back to getUpdates; pending updates are kept unless `drop_pending`."""
        await self._call_json("deleteWebhook", {"drop_pending_updates": drop_pending})

    async def set_webhook(
        self, url: str, *, secret_token: Secret | str, allowed_updates: Sequence[str]
    ) -> None:
        """setWebhook: deliver `allowed_updates` to the HTTPS `url`, each POST
        carrying `secret_token` (1-256 of A-Z a-z 0-9 _ -) in its
        X-Telegram-Bot-Api-Secret-Token header."""
        parts = urllib.parse.urlsplit(url)
        loopback = parts.scheme == "http" and _is_loopback(parts.hostname or "")
        if (parts.scheme != "https" and not loopback) or not parts.hostname:
            raise ValueError("a webhook url must be an https URL (http only to loopback)")
        secret = secret_token.reveal() if isinstance(secret_token, Secret) else secret_token
        if _SECRET_TOKEN.fullmatch(secret) is None:
            raise ValueError("a webhook secret_token is 1-256 characters of A-Z a-z 0-9 _ -")
        payload = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": _update_types(allowed_updates),
        }
        await self._call_json("setWebhook", payload)

    async def get_updates(
        self,
        *,
        offset: int | None,
        poll_timeout: int,
        allowed_updates: Sequence[str],
        limit: int = MAX_UPDATES,
    ) -> list[dict[str, Any]]:
        """getUpdates: the raw Update objects from `offset` (which confirms every
        update below it), waiting up to `poll_timeout` seconds (0-50) for one.
        `allowed_updates` is sent on every call (the API keeps the last one sent).
        The call is given `poll_timeout + poll_margin` seconds: a poll that stalls
        beyond that raises `NetworkTrouble`. Every update has an int update_id."""
        if offset is not None and not is_int(offset):
            raise ValueError(f"offset must be an int or None, not {offset!r}")
        if not is_int(poll_timeout) or not 0 <= poll_timeout <= MAX_POLL_TIMEOUT:
            raise ValueError(
                f"poll_timeout must be 0-{MAX_POLL_TIMEOUT} seconds, not {poll_timeout!r}"
            )
        if not is_int(limit) or not 1 <= limit <= MAX_UPDATES:
            raise ValueError(f"limit must be 1-{MAX_UPDATES}, not {limit!r}")
        payload: dict[str, Any] = {
            "timeout": poll_timeout,
            "limit": limit,
            "allowed_updates": _update_types(allowed_updates),
        }
        if offset is not None:
            payload["offset"] = offset
        result = await self._call_json(
            "getUpdates", payload, seconds=poll_timeout + self.poll_margin
        )
        if not isinstance(result, list) or not all(
            isinstance(update, dict) and is_int(update.get("update_id")) for update in result
        ):
            raise NetworkTrouble(0, "answered updates without update ids", method="getUpdates")
        return result

    # ---- sending ------------------------------------------------------------------------

    async def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        entities: Sequence[Entity] | None = None,
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> int:
        """sendMessage: `text` (1-4096 UTF-16 code units) formatted by
        `entities` (no parse mode: nothing for Telegram to parse), as a reply
        to message `reply_to` (sent even if that message is gone) in forum
        topic `thread_id`. The new message's id."""
        _check_text("a message text", text, MAX_TEXT_UNITS)
        if not text.strip():
            raise ValueError("a message text must not be blank")
        payload = _placed(chat_id, reply_to=reply_to, thread_id=thread_id)
        payload["text"] = text
        if entities:
            payload["entities"] = [entity.to_json() for entity in entities]
        return _message_id(await self._call_json("sendMessage", payload), "sendMessage")

    async def send_chat_action(
        self, chat_id: int | str, action: str = "typing", *, thread_id: int | None = None
    ) -> None:
        """sendChatAction: show `action` (typing...) for about 5 seconds."""
        if action not in CHAT_ACTIONS:
            raise ValueError(f"{action!r} is not a Bot API chat action")
        payload = _placed(chat_id, reply_to=None, thread_id=thread_id)
        payload["action"] = action
        await self._call_json("sendChatAction", payload)

    async def send_photo(
        self,
        chat_id: int | str,
        filename: str,
        data: bytes,
        *,
        caption: str = "",
        caption_entities: Sequence[Entity] = (),
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> int:
        """sendPhoto: upload `data` (at most 10 MB) as a photo; the message id."""
        return await self._upload(
            "sendPhoto", chat_id, filename, data, caption, caption_entities, reply_to, thread_id
        )

    async def send_document(
        self,
        chat_id: int | str,
        filename: str,
        data: bytes,
        *,
        caption: str = "",
        caption_entities: Sequence[Entity] = (),
        reply_to: int | None = None,
        thread_id: int | None = None,
    ) -> int:
        """sendDocument: upload `data` (at most 50 MB) as the file `filename`; the message id."""
        return await self._upload(
            "sendDocument", chat_id, filename, data, caption, caption_entities, reply_to, thread_id
        )

    # ---- files --------------------------------------------------------------------------

    async def get_file(self, file_id: str) -> tuple[str, int | None]:
        """getFile: the file's download path and its size (None when the API
        does not say). The path stays valid for at least an hour."""
        if not file_id or _CONTROL.search(file_id):
            raise ValueError("a file_id is non-empty text without control characters")
        result = _object(await self._call_json("getFile", {"file_id": file_id}), "getFile")
        path, size = result.get("file_path"), result.get("file_size")
        if not isinstance(path, str) or _file_path_problem(path) is not None:
            raise NetworkTrouble(0, "answered no usable file_path", method="getFile")
        return path, size if is_int(size) and size >= 0 else None

    async def download(self, file_path: str, *, max_bytes: int) -> bytes:
        """The content behind a getFile `file_path`. Raises `FileTooLarge` for
        more than `max_bytes` without reading further than that."""
        problem = _file_path_problem(file_path)
        if problem is not None:
            raise ValueError(f"file_path {file_path!r} {problem}")
        if not is_int(max_bytes) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive int, not {max_bytes!r}")
        quoted = urllib.parse.quote(file_path, safe="/")
        url = f"{self.api_base}/file/bot{self.token.reveal()}/{quoted}"
        status, body = await self._exchange(
            "download", "GET", url, seconds=self.transfer_timeout, limit=max_bytes
        )
        if status == 200 and body is None:
            raise FileTooLarge(0, f"the file is larger than {max_bytes} bytes", method="download")
        if status != 200 or body is None:
            if body is not None:
                answer_result("download", status, body, self._scrub, bot_url=False)
            raise NetworkTrouble(0, f"HTTP {status} without a usable error", method="download")
        return body

    # ---- the exchange -------------------------------------------------------------------

    async def _upload(
        self,
        method: UploadMethod,
        chat_id: int | str,
        filename: str,
        data: bytes,
        caption: str,
        caption_entities: Sequence[Entity],
        reply_to: int | None,
        thread_id: int | None,
    ) -> int:
        cap = MAX_PHOTO_BYTES if method == "sendPhoto" else MAX_UPLOAD_BYTES
        if not data or len(data) > cap:
            raise ValueError(f"{method} uploads 1 to {cap} bytes, not {len(data)}")
        _check_text("an upload file name", filename, 255)
        if not filename or len(filename.encode()) > 255 or _UNSAFE_NAME.search(filename):
            raise ValueError(
                f"upload file name {ascii(filename)[:80]} must be 1-255 bytes without"
                " /, \\, quotes or control characters"
            )
        _check_text("a caption", caption, MAX_CAPTION_UNITS)
        fields = _placed(chat_id, reply_to=reply_to, thread_id=thread_id)
        if caption:
            fields["caption"] = caption
            if caption_entities:
                fields["caption_entities"] = [entity.to_json() for entity in caption_entities]
        form = {
            name: value if isinstance(value, str) else json.dumps(value)
            for name, value in fields.items()
        }
        field = "photo" if method == "sendPhoto" else "document"
        files = {field: (filename, data, "application/octet-stream")}
        result = await self._call(method, seconds=self.transfer_timeout, data=form, files=files)
        return _message_id(result, method)

    async def _call_json(
        self, method: str, payload: dict[str, Any], *, seconds: float | None = None
    ) -> Any:
        """`_call` with a JSON body, ASCII-escaped: any text can be encoded."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self._call(method, seconds=seconds, content=body, headers=_JSON_HEADERS)

    async def _call(self, method: str, *, seconds: float | None = None, **request: Any) -> Any:
        """POST to `method` (`request`: httpx's `content=` and `headers=`, or
        `data=` and `files=` for multipart); the answer's `result`, or the
        error it stands for."""
        url = f"{self.api_base}/bot{self.token.reveal()}/{method}"
        status, body = await self._exchange(
            method,
            "POST",
            url,
            seconds=self.call_timeout if seconds is None else seconds,
            limit=self.max_answer_bytes,
            **request,
        )
        if body is None:
            limit = self.max_answer_bytes
            raise NetworkTrouble(0, f"answered more than {limit} bytes", method=method)
        return answer_result(method, status, body, self._scrub, bot_url=True)

    async def _exchange(
        self,
        what: str,
        http_method: str,
        url: str,
        *,
        seconds: float,
        limit: int,
        headers: Mapping[str, str] | None = None,
        **body: Any,
    ) -> tuple[int, bytes | None]:
        """One request (`body`: httpx's content=, or data= and files=) within
        `seconds`: the status and the answer's body, or None for a
        body beyond `limit` bytes (`max_answer_bytes` for an error answer),
        refused on its Content-Length or as soon as more arrived. Every
        transport failure becomes `NetworkTrouble`, raised outside the handler
        so nothing holding the URL is chained to it."""
        failure: NetworkTrouble
        try:
            with trio.fail_after(seconds):
                async with self.client.stream(
                    http_method,
                    url,
                    headers={**(headers or {}), "accept-encoding": "identity"},
                    timeout=None,  # bounded as a whole by fail_after
                    follow_redirects=False,
                    **body,
                ) as response:
                    encoding = response.headers.get("content-encoding", "identity")
                    if encoding.lower() != "identity":  # its decoded size is unknown
                        detail = f"answered with content-encoding {self._scrub(encoding)!r}"
                        raise NetworkTrouble(0, detail, method=what)
                    status = response.status_code
                    cap = limit if status == 200 else self.max_answer_bytes
                    return status, await _read_capped(response, cap)
        except trio.TooSlowError:
            failure = NetworkTrouble(0, f"no answer within {seconds:g} s", method=what)
        except httpx.HTTPError as exc:
            detail = self._scrub(str(exc)) or "no detail"
            failure = NetworkTrouble(0, f"{type(exc).__name__}: {detail}", method=what)
        raise failure

    def _scrub(self, text: str) -> str:
        """`text` on one line, bounded, with the token's secret part redacted."""
        secret = self.token.reveal().split(":", 1)[1]
        cleaned = _CONTROL.sub(" ", text.replace(secret, REDACTED))
        return cleaned[:MAX_DESCRIPTION]


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed `limit` bytes."""
    if declared_over(response.headers, limit):
        return None
    try:
        return (await read_capped(response.aiter_raw(), limit, Overflow.REFUSE)).data
    except BodyTooLarge:
        return None


def _object(result: Any, method: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise NetworkTrouble(0, "answered a result that is not an object", method=method)
    return result


def _message_id(result: Any, method: str) -> int:
    message_id = _object(result, method).get("message_id")
    if not is_int(message_id):
        raise NetworkTrouble(0, "answered a message without a message_id", method=method)
    return message_id


def _chat(chat_id: int | str) -> int | str:
    """A chat_id argument: an int (or its decimal text) or "@username"."""
    if is_int(chat_id):
        return chat_id
    if isinstance(chat_id, str):
        if _NUMERIC_CHAT.fullmatch(chat_id):
            return int(chat_id)
        if chat_id.startswith("@") and _USERNAME.fullmatch(chat_id[1:]):
            return chat_id
    raise ValueError(f"not a Telegram chat id: {ascii(chat_id)[:80]}")


def _check_text(what: str, text: str, limit: int) -> None:
    """Raises `ValueError` for text over `limit` UTF-16 code units or holding
    a surrogate code point (no UTF-8 request can carry it)."""
    if valid_utf16(text) != text:
        raise ValueError(f"{what} holds a surrogate code point")
    if utf16_len(text) > limit:
        raise ValueError(f"{what} is longer than {limit} UTF-16 code units")


def _positive_id(name: str, value: int | None) -> int | None:
    if value is not None and (not is_int(value) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, not {value!r}")
    return value


def _placed(chat_id: int | str, *, reply_to: int | None, thread_id: int | None) -> dict[str, Any]:
    """The arguments saying where a message goes: chat, forum topic, and the
    message it answers (sent anyway if that message was deleted)."""
    payload: dict[str, Any] = {"chat_id": _chat(chat_id)}
    if _positive_id("thread_id", thread_id) is not None:
        payload["message_thread_id"] = thread_id
    if _positive_id("reply_to", reply_to) is not None:
        payload["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    return payload


def _update_types(allowed_updates: Sequence[str]) -> list[str]:
    if isinstance(allowed_updates, str) or not all(
        isinstance(kind, str) and re.fullmatch(r"[a-z_]{1,40}", kind) for kind in allowed_updates
    ):
        raise ValueError("allowed_updates is a list of update type names such as 'message'")
    return list(allowed_updates)


def _file_path_problem(path: str) -> str | None:
    """Why a getFile path cannot be put in a download URL, or None."""
    if not path or len(path) > 1024 or _CONTROL.search(path) or any(c in path for c in "?#\\"):
        return "is empty, too long, or has control characters, ?, # or \\"
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        return "is not a plain relative path"
    return None
