"""`ZulipApi`: the Zulip REST API over an injected `httpx.AsyncClient` (the thin shell).

Every call goes to `{site}/api/v1/...` with HTTP Basic auth `email:api_key`
(form-encoded arguments, lists and booleans JSON-encoded as Zulip expects);
uploads come from `{site}/user_uploads/...` with the same auth and go to
`POST /api/v1/user_uploads` (multipart/form-data, one file part). Every answer
is bounded in size and read in Zulip's envelope; every failure is one
`ZulipError` (see `errors`, whose names this module re-exports):
`NetworkTrouble` also for no answer (connection refused or dropped, no
answer in time), `FileTooLarge` for a download beyond the caller's cap,
refused before its body is read in full.

The API key never appears in an error's text or repr: httpx exceptions are
replaced, never chained, and text from the server is scrubbed of it. Each
call is bounded as a whole in trio time (`call_timeout`; a long poll: the
queue's long-poll timeout plus `poll_margin`; downloads and uploads:
`transfer_timeout`),
httpx's own timeouts are off so the bound is exact. Redirects are not
followed, but for a download one redirect (S3 storage answers with a signed
URL): to the same origin with the credentials, to another origin only over
https and without them. Argument errors raise `ValueError` before any
request. The client is the caller's: `ZulipApi` never closes it.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import attrs
import httpx
import trio

from autobot.channels.json_fields import is_int
from autobot.channels.zulip.errors import (
    BadRequest,
    FileTooLarge,
    NetworkTrouble,
    QueueGone,
    RateLimited,
    ServerError,
    Unauthorized,
    ZulipError,
    answer_data,
    is_transient,
    seconds,
)
from autobot.channels.zulip.settings import api_key_problem, email_problem, site_problem
from autobot.config.secret import REDACTED, Secret
from autobot.http.body import BodyTooLarge, Overflow, declared_over, read_capped

__all__ = [
    "DEFAULT_LONGPOLL_SECONDS",
    "DEFAULT_MAX_MESSAGE_LENGTH",
    "DEFAULT_MAX_UPLOAD_MIB",
    "MAX_MESSAGE_LENGTH_RANGE",
    "MAX_UPLOAD_MIB_RANGE",
    "BadRequest",
    "BotIdentity",
    "FileTooLarge",
    "NetworkTrouble",
    "QueueGone",
    "RateLimited",
    "Registration",
    "ServerError",
    "Unauthorized",
    "ZulipApi",
    "ZulipError",
    "is_transient",
    "upload_path_problem",
]

# What servers that do not say (before feature level 74, or without the realm
# data) use: Zulip's own defaults.
DEFAULT_LONGPOLL_SECONDS = 90.0
DEFAULT_MAX_MESSAGE_LENGTH = 10_000
DEFAULT_MAX_UPLOAD_MIB = 25  # a server that does not say (max_file_upload_size_mib)
LONGPOLL_RANGE = (1.0, 3600.0)  # a server's long-poll timeout outside this is refused
MAX_MESSAGE_LENGTH_RANGE = (64, 1_000_000)  # code points; a server outside this is refused
MAX_UPLOAD_MIB_RANGE = (0, 1_000_000)  # 0: uploads are off; a server outside this is refused
MAX_MSG = 500  # characters of a server's error text kept
MAX_QUEUE_ID = 256
EVENT_TYPES = ("message",)
REDIRECTS = frozenset({301, 302, 303, 307, 308})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UPLOAD_SEGMENT = re.compile(r"[^\s/?#\\()<>\[\]\x00-\x1f\x7f]+")


@attrs.frozen(kw_only=True)
class BotIdentity:
    """Who the bot is (`GET /users/me`): its user id, email and full name
    (the name people mention: `@**full name**`)."""

    user_id: int
    email: str
    full_name: str


@attrs.frozen(kw_only=True)
class Registration:
    """A new event queue (`POST /register`): its id, the id of the last event
    before it (-1), how long the server holds a long poll, the longest
    message content it accepts (code points), and the largest file it
    accepts as an upload (MiB; 0 when uploads are off)."""

    queue_id: str
    last_event_id: int
    longpoll_seconds: float
    max_message_length: int
    max_upload_mib: int


def _without_trailing_slash(site: str) -> str:
    return site.rstrip("/")


def _check_site(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    problem = site_problem(value)
    if problem is not None:
        raise ValueError(problem.message)


def _check_email(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    problem = email_problem(value)
    if problem is not None:
        raise ValueError(problem)


def _as_secret(api_key: Secret | str) -> Secret:
    secret = api_key if isinstance(api_key, Secret) else Secret(api_key)
    problem = api_key_problem(secret.reveal())
    if problem is not None:
        raise ValueError(problem)
    return secret


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"ZulipApi.{attribute.name} must be > 0, got {value!r}")


def upload_path_problem(path: str) -> str | None:
    """Why `path` cannot be fetched as an upload, or None: it must be
    `/user_uploads/` followed by plain path segments (no `.` or `..`, no
    query, fragment, backslash, spaces or control characters)."""
    prefix = "/user_uploads/"
    if not path.startswith(prefix) or len(path) > 1024:
        return "is not a /user_uploads/ path of at most 1024 characters"
    segments = path[len(prefix) :].split("/")
    if any(s in (".", "..") or not _UPLOAD_SEGMENT.fullmatch(s) for s in segments):
        return "holds an empty, dot, or unsafe path segment"
    return None


@attrs.frozen(kw_only=True)
class ZulipApi:
    """One bot's Zulip client. Owns nothing but its settings: `client` is
    the caller's (one connection pool per channel), `api_key` a `Secret` (a
    str is wrapped). `call_timeout`, `poll_margin` and `transfer_timeout`
    bound each call (seconds); `max_answer_bytes` bounds an answer's body.
    Construction raises `ValueError` for a `site` that is not an https root
    URL (http only to loopback), a malformed email or key, and non-positive
    limits."""

    client: httpx.AsyncClient = attrs.field(repr=False)
    site: str = attrs.field(converter=_without_trailing_slash, validator=_check_site)
    email: str = attrs.field(validator=_check_email)
    api_key: Secret = attrs.field(converter=_as_secret, repr=False)
    call_timeout: float = attrs.field(default=30.0, validator=_positive)
    poll_margin: float = attrs.field(default=10.0, validator=_positive)
    transfer_timeout: float = attrs.field(default=120.0, validator=_positive)
    max_answer_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=_positive)

    # ---- identity and the event queue ---------------------------------------------------

    async def get_me(self) -> BotIdentity:
        """`GET /users/me`: the bot's user id, email and full name."""
        data = await self._call("users/me", "GET", {})
        user_id, email, name = data.get("user_id"), data.get("email"), data.get("full_name")
        if not is_int(user_id) or not isinstance(email, str) or not isinstance(name, str):
            raise NetworkTrouble(0, "answered no user id, email and name", endpoint="users/me")
        return BotIdentity(user_id=user_id, email=email, full_name=name)

    async def register(self) -> Registration:
        """`POST /register`: a new queue of message events, content as
        written (`apply_markdown` false), and the server's limits (the realm
        data carries them; each one absent is Zulip's default)."""
        arguments = {
            "event_types": json.dumps(list(EVENT_TYPES)),
            "fetch_event_types": json.dumps(["realm"]),
            "apply_markdown": "false",
            "client_gravatar": "true",
        }
        data = await self._call("register", "POST", arguments)
        queue_id, last = data.get("queue_id"), data.get("last_event_id")
        if not _is_queue_id(queue_id) or not is_int(last) or last < -1:
            raise NetworkTrouble(
                0, "answered no usable queue_id and last_event_id", endpoint="register"
            )
        longpoll = seconds(
            data.get("event_queue_longpoll_timeout_seconds", DEFAULT_LONGPOLL_SECONDS)
        )
        length = data.get("max_message_length", DEFAULT_MAX_MESSAGE_LENGTH)
        upload_mib = data.get("max_file_upload_size_mib", DEFAULT_MAX_UPLOAD_MIB)
        low, high = MAX_MESSAGE_LENGTH_RANGE
        low_mib, high_mib = MAX_UPLOAD_MIB_RANGE
        if longpoll is None or not LONGPOLL_RANGE[0] <= longpoll <= LONGPOLL_RANGE[1]:
            raise NetworkTrouble(0, "answered an unusable long-poll timeout", endpoint="register")
        if not is_int(length) or not low <= length <= high:
            raise NetworkTrouble(0, "answered an unusable max_message_length", endpoint="register")
        if not is_int(upload_mib) or not low_mib <= upload_mib <= high_mib:
            raise NetworkTrouble(
                0, "answered an unusable max_file_upload_size_mib", endpoint="register"
            )
        return Registration(
            queue_id=queue_id,
            last_event_id=last,
            longpoll_seconds=longpoll,
            max_message_length=length,
            max_upload_mib=upload_mib,
        )

    async def get_events(
        self, queue_id: str, last_event_id: int, *, longpoll_seconds: float
    ) -> list[dict[str, Any]]:
        """`GET /events`: the events of queue `queue_id` after
        `last_event_id` (which acknowledges every event up to it), waiting
        for one; the server answers a heartbeat when nothing came within
        its long-poll timeout. The call is given `longpoll_seconds +
        poll_margin`: a poll that stalls beyond that raises
        `NetworkTrouble`. Every event has an int `id` and a str `type`."""
        if not _is_queue_id(queue_id):
            raise ValueError("queue_id must be printable text without spaces")
        if not is_int(last_event_id) or last_event_id < -1:
            raise ValueError(f"last_event_id must be an int >= -1, not {last_event_id!r}")
        arguments = {"queue_id": queue_id, "last_event_id": str(last_event_id)}
        data = await self._call(
            "events", "GET", arguments, seconds=longpoll_seconds + self.poll_margin
        )
        events = data.get("events")
        if not isinstance(events, list) or not all(
            isinstance(e, dict) and is_int(e.get("id")) and isinstance(e.get("type"), str)
            for e in events
        ):
            raise NetworkTrouble(0, "answered events without ids and types", endpoint="events")
        return events

    # ---- sending ------------------------------------------------------------------------

    async def send_private(self, user_ids: Sequence[int], content: str) -> int:
        """`POST /messages`, a direct message to `user_ids`; the new message's id."""
        if not user_ids or not all(is_int(i) and i > 0 for i in user_ids):
            raise ValueError("a direct message goes to one or more positive user ids")
        arguments = {"type": "private", "to": json.dumps(list(user_ids))}
        return await self._send(arguments, content)

    async def send_stream(self, stream_id: int, topic: str, content: str) -> int:
        """`POST /messages` to topic `topic` of stream `stream_id`; the new message's id."""
        if not is_int(stream_id) or stream_id < 1:
            raise ValueError(f"stream_id must be a positive int, not {stream_id!r}")
        _check_text("a topic", topic)
        arguments = {"type": "stream", "to": str(stream_id), "topic": topic}
        return await self._send(arguments, content)

    async def _send(self, arguments: dict[str, str], content: str) -> int:
        _check_text("a message", content)
        if not content.strip():
            raise ValueError("a message must not be blank")
        data = await self._call("messages", "POST", {**arguments, "content": content})
        message_id = data.get("id")
        if not is_int(message_id):
            raise NetworkTrouble(0, "answered no message id", endpoint="messages")
        return message_id

    # ---- uploads --------------------------------------------------------------------------

    async def upload(self, file_name: str, data: bytes) -> str:
        """`POST /user_uploads`: `data` as a new upload named `file_name` (one
        multipart file part), within `transfer_timeout`; the path its link
        takes, `/user_uploads/...`: the answer's `url` (Zulip 9.0 and later),
        else its `uri`, and only when `upload_path_problem` finds nothing
        wrong with it (`NetworkTrouble` otherwise: the file may be stored,
        but nothing else is ever linked). A file the server refuses (larger
        than its limit, uploads off) raises `BadRequest` with Zulip's `msg`.
        Raises `ValueError` for a name no request can carry (empty, a NUL,
        a surrogate)."""
        _check_text("a file name", file_name)
        if not file_name:
            raise ValueError("a file name must not be empty")
        answer = await self._call(
            "user_uploads",
            "POST",
            {},
            seconds=self.transfer_timeout,
            files={"file": (file_name, data)},
        )
        path = answer.get("url", answer.get("uri"))
        if not isinstance(path, str) or upload_path_problem(path) is not None:
            raise NetworkTrouble(
                0, "answered no usable /user_uploads/ path", endpoint="user_uploads"
            )
        return path

    async def download(self, path: str, *, max_bytes: int) -> bytes:
        """The file behind the upload link `path` (`/user_uploads/...`).
        Raises `FileTooLarge` for more than `max_bytes` without reading
        further than that, `BadRequest` when the server refuses the file
        (gone, not ours to see) or redirects where credentials cannot go."""
        problem = upload_path_problem(path)
        if problem is not None:
            raise ValueError(f"upload path {path!r} {problem}")
        if not is_int(max_bytes) or max_bytes < 1:
            raise ValueError(f"max_bytes must be a positive int, not {max_bytes!r}")
        url = self.site + urllib.parse.quote(path, safe="/%")
        answer = await self._exchange(
            "download", "GET", url, seconds=self.transfer_timeout, limit=max_bytes
        )
        if answer.status in REDIRECTS and answer.location:
            target = urllib.parse.urljoin(url, answer.location)
            same_origin = _origin(target) == _origin(url)
            if not same_origin and urllib.parse.urlsplit(target).scheme != "https":
                raise BadRequest(answer.status, "redirected off https", endpoint="download")
            answer = await self._exchange(
                "download",
                "GET",
                target,
                seconds=self.transfer_timeout,
                limit=max_bytes,
                authenticated=same_origin,
            )
        if answer.status == 200:
            if answer.body is None:
                detail = f"the file is larger than {max_bytes} bytes"
                raise FileTooLarge(0, detail, endpoint="download")
            return answer.body
        if answer.status in (401, 429) or answer.status >= 500:
            answer_data(
                "download", answer.status, answer.body or b"", answer.retry_after, self._scrub
            )
        raise BadRequest(answer.status, "the server did not give the file", endpoint="download")

    # ---- the exchange -------------------------------------------------------------------

    async def _call(
        self,
        endpoint: str,
        http_method: str,
        arguments: Mapping[str, str],
        *,
        seconds: float | None = None,
        files: Mapping[str, tuple[str, bytes]] | None = None,
    ) -> dict[str, Any]:
        """One API call (`files`: multipart file parts of a POST): the
        answer's object, or the error it stands for."""
        url = f"{self.site}/api/v1/{endpoint}"
        query, form = (arguments, None) if http_method == "GET" else (None, arguments)
        answer = await self._exchange(
            endpoint,
            http_method,
            url,
            seconds=self.call_timeout if seconds is None else seconds,
            limit=self.max_answer_bytes,
            params=query,
            data=form,
            files=files,
        )
        if answer.body is None:
            limit = self.max_answer_bytes
            raise NetworkTrouble(0, f"answered more than {limit} bytes", endpoint=endpoint)
        return answer_data(endpoint, answer.status, answer.body, answer.retry_after, self._scrub)

    async def _exchange(
        self,
        what: str,
        http_method: str,
        url: str,
        *,
        seconds: float,
        limit: int,
        authenticated: bool = True,
        **request: Any,
    ) -> _Answer:
        """One request (`request`: httpx's params=, data= or files=) within `seconds`:
        the status, the body (None beyond `limit` bytes, refused on its
        Content-Length or as soon as more arrived; `max_answer_bytes` for an
        answer that is not a 200), the Retry-After and Location headers.
        Every transport failure becomes `NetworkTrouble`, raised outside the
        handler so nothing holding the request is chained to it."""
        headers = {"accept-encoding": "identity", "user-agent": "autobot"}
        if authenticated:
            headers["authorization"] = self._authorization()
        failure: NetworkTrouble
        try:
            with trio.fail_after(seconds):
                async with self.client.stream(
                    http_method,
                    url,
                    headers=headers,
                    timeout=None,  # bounded as a whole by fail_after
                    follow_redirects=False,
                    **request,
                ) as response:
                    encoding = response.headers.get("content-encoding", "identity")
                    if encoding.lower() != "identity":  # its decoded size is unknown
                        detail = f"answered with content-encoding {self._scrub(encoding)!r}"
                        raise NetworkTrouble(0, detail, endpoint=what)
                    status = response.status_code
                    cap = limit if status == 200 else self.max_answer_bytes
                    return _Answer(
                        status=status,
                        body=await _read_capped(response, cap),
                        retry_after=response.headers.get("retry-after"),
                        location=response.headers.get("location"),
                    )
        except trio.TooSlowError:
            failure = NetworkTrouble(0, f"no answer within {seconds:g} s", endpoint=what)
        except httpx.HTTPError as exc:
            detail = self._scrub(str(exc)) or "no detail"
            failure = NetworkTrouble(0, f"{type(exc).__name__}: {detail}", endpoint=what)
        raise failure

    def _authorization(self) -> str:
        pair = f"{self.email}:{self.api_key.reveal()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _scrub(self, text: str) -> str:
        """`text` on one line, bounded, with the API key (and its Basic
        encoding) redacted."""
        cleaned = text.replace(self.api_key.reveal(), REDACTED)
        cleaned = cleaned.replace(self._authorization().removeprefix("Basic "), REDACTED)
        return _CONTROL.sub(" ", cleaned)[:MAX_MSG]


@attrs.frozen(kw_only=True)
class _Answer:
    status: int
    body: bytes | None
    retry_after: str | None
    location: str | None


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The raw body, or None as soon as it is known to exceed `limit` bytes."""
    if declared_over(response.headers, limit):
        return None
    try:
        return (await read_capped(response.aiter_raw(), limit, Overflow.REFUSE)).data
    except BodyTooLarge:
        return None


def _is_queue_id(value: object) -> TypeGuard[str]:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_QUEUE_ID
        and value.isprintable()
        and not any(char.isspace() for char in value)
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _check_text(what: str, text: str) -> None:
    """Raises `ValueError` for text no request can carry: not a str, a NUL
    (Zulip refuses it) or a surrogate code point (not UTF-8)."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be text")
    if "\x00" in text:
        raise ValueError(f"{what} must not contain a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} holds a surrogate code point") from None
