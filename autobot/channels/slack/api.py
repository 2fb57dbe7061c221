"""`SlackApi`: the Slack Web API over an injected `httpx.AsyncClient` (the thin shell).

Methods are POSTed to `{api_base}/<method>` with the token in the
`Authorization: Bearer` header (never in a URL or a form field): the bot
token (`xoxb-`) for everything but `apps.connections.open`, which takes the
app-level token (`xapp-`). chat.postMessage sends JSON; the other methods
form fields. Every answer is bounded in size and read by `errors.answer_result`.

Files: `download` fetches a file's `url_private_download` with the bot
token, following at most `MAX_REDIRECTS` redirects by hand, and only to
URLs `urls.file_url_allowed` accepts (https to a Slack host, or the API
base's own origin): the token never leaves Slack. `upload_file` uses
files.getUploadURLExternal, a POST of the bytes to the URL it returned (no
token), then files.completeUploadExternal to share it in a channel/thread.

Each call is bounded as a whole in trio time (`call_timeout`; transfers
`transfer_timeout`); httpx's own timeouts are off so the bound is exact.
httpx exceptions are replaced, never chained. Argument errors raise
`ValueError` before any request. The client is the caller's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
import trio

from autobot.channels.slack.errors import (
    FileTooLarge,
    NetworkTrouble,
    Refused,
    SlackError,
    answer_result,
)
from autobot.channels.slack.tokens import APP_TOKEN_PREFIX, BOT_TOKEN_PREFIX, check_token
from autobot.channels.slack.urls import check_api_base, file_url_allowed, socket_url_allowed
from autobot.channels.utf16 import LONE_SURROGATE
from autobot.config.secret import Secret
from autobot.http.body import BodyTooLarge, Overflow, declared_over, read_capped

MAX_TEXT_CHARS = 40_000  # Slack truncates beyond this; the channel sends <= 4,000
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024  # files.getUploadURLExternal's own limit (1 GB)
MAX_FILE_NAME = 255
MAX_REDIRECTS = 3

SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")
TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\"]')
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _bot_token(token: Secret) -> Secret:
    return check_token(token, BOT_TOKEN_PREFIX, "the bot token")


def _app_token(token: Secret | None) -> Secret | None:
    return None if token is None else check_token(token, APP_TOKEN_PREFIX, "the app token")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"SlackApi.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class BotIdentity:
    """Who the bot is (`auth.test`): its user id (mentions, loop detection),
    its bot id and its workspace."""

    user_id: str
    bot_id: str | None
    team_id: str | None


@attrs.frozen(kw_only=True)
class UploadedFile:
    """What files.getUploadURLExternal reserved: where to POST the bytes, and the file's id."""

    upload_url: str
    file_id: str


@attrs.frozen(kw_only=True)
class SlackApi:
    """One Slack app's Web API client. Owns nothing but its settings: `client`
    is the caller's; `bot_token` and `app_token` are `Secret`s checked for
    their prefix. Construction raises ValueError for a malformed token or
    `api_base` (http only to loopback) and non-positive limits."""

    client: httpx.AsyncClient = attrs.field(repr=False)
    api_base: str = attrs.field(converter=check_api_base)
    bot_token: Secret = attrs.field(converter=_bot_token, repr=False)
    app_token: Secret | None = attrs.field(default=None, converter=_app_token, repr=False)
    call_timeout: float = attrs.field(default=30.0, validator=_positive)
    transfer_timeout: float = attrs.field(default=120.0, validator=_positive)
    max_answer_bytes: int = attrs.field(default=1024 * 1024, validator=_positive)

    # ---- connecting ---------------------------------------------------------------------

    async def auth_test(self) -> BotIdentity:
        """auth.test with the bot token: the bot's user id, bot id and team."""
        answer = await self._call("auth.test", {}, token=self.bot_token)
        user_id, bot_id, team_id = (answer.get(k) for k in ("user_id", "bot_id", "team_id"))
        if not isinstance(user_id, str) or not SLACK_ID.fullmatch(user_id):
            raise NetworkTrouble("no_user_id", method="auth.test", detail="no valid user_id")
        return BotIdentity(
            user_id=user_id,
            bot_id=bot_id if isinstance(bot_id, str) and SLACK_ID.fullmatch(bot_id) else None,
            team_id=team_id if isinstance(team_id, str) and SLACK_ID.fullmatch(team_id) else None,
        )

    async def open_connection(self) -> str:
        """apps.connections.open with the app token: the Socket Mode URL.
        Raises `Refused` for a URL that is neither wss:// to Slack nor loopback."""
        if self.app_token is None:
            raise ValueError("apps.connections.open needs the app token")
        answer = await self._call("apps.connections.open", {}, token=self.app_token)
        url = answer.get("url")
        if not isinstance(url, str):
            raise NetworkTrouble("no_url", method="apps.connections.open", detail="no url")
        if not socket_url_allowed(url):
            raise Refused(
                "socket_url_refused",
                method="apps.connections.open",
                detail="the socket URL is not wss:// on a Slack host",
            )
        return url

    # ---- sending ------------------------------------------------------------------------

    async def post_message(self, channel: str, text: str, *, thread_ts: str | None = None) -> str:
        """chat.postMessage: `text` (mrkdwn, already escaped) in `channel`, in
        the thread `thread_ts` if given; Slack's own parsing, name linking and
        link unfurling are off. The new message's ts."""
        _check_id("channel", channel)
        _check_text(text)
        payload: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "mrkdwn": True,
            "parse": "none",
            "link_names": False,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts is not None:
            payload["thread_ts"] = _check_ts(thread_ts)
        answer = await self._call("chat.postMessage", payload, token=self.bot_token, json_body=True)
        ts = answer.get("ts")
        if not isinstance(ts, str):
            raise NetworkTrouble("no_ts", method="chat.postMessage", detail="no message ts")
        return ts

    async def upload_file(
        self, channel: str, filename: str, data: bytes, *, thread_ts: str | None = None
    ) -> str:
        """Share `data` as the file `filename` in `channel` (thread `thread_ts`):
        files.getUploadURLExternal, the upload, files.completeUploadExternal.
        The file's id."""
        _check_id("channel", channel)
        if not data or len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"an upload is 1 to {MAX_UPLOAD_BYTES} bytes, not {len(data)}")
        if (
            not filename
            or len(filename.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME
            or _UNSAFE_NAME.search(filename)
            or LONE_SURROGATE.search(filename)
        ):
            raise ValueError(
                f"upload file name {ascii(filename)[:80]} must be 1-{MAX_FILE_NAME} bytes"
                " without /, \\, quotes or control characters"
            )
        reserved = await self._reserve_upload(filename, len(data))
        status, _, _ = await self._exchange(
            "upload",
            "POST",
            reserved.upload_url,
            seconds=self.transfer_timeout,
            limit=self.max_answer_bytes,
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        if status != 200:
            raise NetworkTrouble("upload_failed", method="upload", status=status)
        fields: dict[str, Any] = {
            "files": json.dumps([{"id": reserved.file_id, "title": filename}]),
            "channel_id": channel,
        }
        if thread_ts is not None:
            fields["thread_ts"] = _check_ts(thread_ts)
        await self._call("files.completeUploadExternal", fields, token=self.bot_token)
        return reserved.file_id

    async def _reserve_upload(self, filename: str, length: int) -> UploadedFile:
        method = "files.getUploadURLExternal"
        answer = await self._call(
            method, {"filename": filename, "length": str(length)}, token=self.bot_token
        )
        url, file_id = answer.get("upload_url"), answer.get("file_id")
        if not isinstance(file_id, str) or not SLACK_ID.fullmatch(file_id):
            raise NetworkTrouble("no_file_id", method=method, detail="no valid file_id")
        if not isinstance(url, str) or not file_url_allowed(url, self.api_base):
            raise Refused("upload_url_refused", method=method, detail="not a Slack upload URL")
        return UploadedFile(upload_url=url, file_id=file_id)

    # ---- files --------------------------------------------------------------------------

    async def download(self, url: str, *, max_bytes: int) -> bytes:
        """The file at `url` (a `url_private_download`), fetched with the bot
        token. Raises `Refused` for a URL or redirect off Slack (the token is
        not sent there) or too many redirects, `FileTooLarge` beyond
        `max_bytes` (without reading further)."""
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive int, not {max_bytes!r}")
        for _ in range(MAX_REDIRECTS + 1):
            if not file_url_allowed(url, self.api_base):
                raise Refused(
                    "file_url_refused",
                    method="download",
                    detail="not an https URL on a Slack host: the token is not sent there",
                )
            status, headers, body = await self._exchange(
                "download",
                "GET",
                url,
                seconds=self.transfer_timeout,
                limit=max_bytes,
                headers=self._authorization(self.bot_token),
            )
            if status in _REDIRECTS:
                location = headers.get("location", "")
                url = str(httpx.URL(url).join(location)) if location else ""
                continue
            if status == 200 and body is None:
                raise FileTooLarge(
                    "file_too_large",
                    method="download",
                    detail=f"the file is larger than {max_bytes} bytes",
                )
            if status != 200 or body is None:
                if body is not None:
                    answer_result("download", status, headers, body)
                raise NetworkTrouble("download_failed", method="download", status=status)
            return body
        raise Refused("too_many_redirects", method="download", detail=f"over {MAX_REDIRECTS}")

    # ---- the exchange -------------------------------------------------------------------

    def _authorization(self, token: Secret) -> dict[str, str]:
        return {"authorization": f"Bearer {token.reveal()}"}

    async def _call(
        self, method: str, fields: Mapping[str, Any], *, token: Secret, json_body: bool = False
    ) -> dict[str, Any]:
        """POST `fields` to `method` (JSON or form) with `token`; the answer object."""
        headers = self._authorization(token)
        request: dict[str, Any]
        if json_body:
            headers["content-type"] = "application/json; charset=utf-8"
            request = {"content": json.dumps(fields, separators=(",", ":")).encode()}
        else:
            request = {"data": dict(fields)}
        status, answer_headers, body = await self._exchange(
            method,
            "POST",
            f"{self.api_base}/{method}",
            seconds=self.call_timeout,
            limit=self.max_answer_bytes,
            headers=headers,
            **request,
        )
        if body is None:
            raise NetworkTrouble(
                "answer_too_large",
                method=method,
                status=status,
                detail=f"more than {self.max_answer_bytes} bytes",
            )
        return answer_result(method, status, answer_headers, body)

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
    ) -> tuple[int, dict[str, str], bytes | None]:
        """One request within `seconds`: the status, lower-cased headers and the
        body (None beyond `limit` bytes for a 200, `max_answer_bytes` for any
        other answer). Transport failures become `NetworkTrouble`, raised
        outside the handler so nothing holding the request is chained."""
        failure: SlackError
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
                    answer_headers = {k.lower(): v for k, v in response.headers.items()}
                    encoding = answer_headers.get("content-encoding", "identity")
                    if encoding.lower() != "identity":
                        raise NetworkTrouble(
                            "encoded_answer", method=what, detail="answered with a content-encoding"
                        )
                    status = response.status_code
                    cap = limit if status == 200 else self.max_answer_bytes
                    return status, answer_headers, await _read_capped(response, cap)
        except trio.TooSlowError:
            failure = NetworkTrouble("timeout", method=what, status=0, detail=f"{seconds:g} s")
        except httpx.HTTPError as exc:
            failure = NetworkTrouble("network", method=what, status=0, detail=type(exc).__name__)
        raise failure


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed `limit` bytes."""
    if declared_over(response.headers, limit):
        return None
    try:
        return (await read_capped(response.aiter_raw(), limit, Overflow.REFUSE)).data
    except BodyTooLarge:
        return None


def _check_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not SLACK_ID.fullmatch(value):
        raise ValueError(f"not a Slack {name} id: {ascii(value)[:80]}")
    return value


def _check_ts(ts: str) -> str:
    if not isinstance(ts, str) or not TS.fullmatch(ts):
        raise ValueError(f"not a Slack message ts: {ascii(ts)[:80]}")
    return ts


def _check_text(text: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a message text must not be blank")
    if LONE_SURROGATE.search(text):
        raise ValueError("a message text holds a surrogate code point")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"a message text is longer than {MAX_TEXT_CHARS} characters")
