"""A loopback fake of a Zulip server's REST API, for the real channel client to talk to.

    async with serve_fake_zulip() as fake:
        alice = fake.add_user("Alice", "alice@example.com")
        fake.send_direct(alice, "hello")
        reply = await fake.next_direct(alice)
        assert reply.content == "Hi Alice!"

Only the far end is fake: requests go to `{base_url}/api/v1/...` with HTTP
Basic auth (the bot's email and API key; anything else is 401
`INVALID_API_KEY`, no credentials at all 401 `UNAUTHORIZED`), arguments
form-encoded (lists and booleans as JSON, as Zulip reads them), answers in
Zulip's envelope. What it serves, with the real server's behaviour where a
client can get it wrong:

- `GET users/me`;
- `POST register`: a queue of the bot's events (`event_types`), content as
  written or rendered to HTML (`apply_markdown`), and the server's limits
  (`max_message_length`, `event_queue_longpoll_timeout_seconds`,
  `max_file_upload_size_mib`) only when
  the realm data is asked for (`fetch_event_types` with `realm`, or
  `event_types` when it is absent), as the real server does;
- `GET events`: pruning by `last_event_id` with the real server's two
  refusals, a long poll that really waits (in trio time) and answers a
  heartbeat event after `heartbeat_seconds`, `BAD_EVENT_QUEUE_ID` for a
  queue that was never registered, was collected after `queue_timeout`
  seconds without a poll, or was dropped (`expire_queues`);
- `POST messages`: direct (`private`/`direct`, `to` a JSON list of ids or
  emails) and stream (`stream`/`channel`, `to` an id or a name, `topic`)
  messages, Zulip's refusals of empty content and NUL characters, and
  content longer than `max_message_length` code points refused with a 400
  (the real server cuts it and appends "[message truncated]": refusing makes
  a client that overflows fail loudly). Every message, the bot's own
  included, is delivered as an event to the bot's queues, with the
  `mentioned` / wildcard flags the real server computes;
- `POST user_uploads`: one file in a multipart/form-data body, refused
  beyond `max_upload_mib` MiB, stored under a sanitised name
  (`testing.zulip.uploads`) and answered with its path in `url` and `uri`
  (only `uri` with `answers_url` false, as before Zulip 9.0); recorded in
  `uploaded`;
- `GET /user_uploads/...`: files the test added (`add_upload`) or the bot
  uploaded, to the bot's credentials only.

A test plays the users (`add_user`, `add_stream`, `send_direct`,
`send_stream`, `add_upload`), reads what the bot did (`sent`,
`next_direct`, `next_in_topic`, `calls`, `downloads`, `uploaded`), and makes things fail
(`fail_next` with a `Fault`, `revoke_api_key`, `expire_queues`). Everything
timed runs on trio's clock, so `autojump_clock` tests can assert exact
virtual times.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
from trio_util import AsyncValue

from autobot.testing.faults import FaultPlan, instead_of_answer
from autobot.testing.http_server import HttpRequest, HttpResponse, LoopbackServer, serve_http
from autobot.testing.zulip.faults import Fault
from autobot.testing.zulip.queues import FakeEventQueue, QueueRefusal
from autobot.testing.zulip.records import (
    ApiCall,
    Download,
    SentMessage,
    Upload,
    ZulipStream,
    ZulipUser,
)
from autobot.testing.zulip.uploads import UploadRefused, read_upload, upload_path

DEFAULT_API_KEY = "fakeZulipApiKey0123456789abcdefA"
BOT = ZulipUser(id=9, email="autobot-bot@zulip.example.com", full_name="Autobot", is_bot=True)
REALM_ID = 2
HEARTBEAT_SECONDS = 45.0  # Zulip's HEARTBEAT_MIN_FREQ_SECS
LONGPOLL_TIMEOUT_SECONDS = 90  # what register reports (EVENT_QUEUE_LONGPOLL_TIMEOUT_SECONDS)
QUEUE_TIMEOUT_SECONDS = 600.0  # an unpolled queue is collected after this
MAX_MESSAGE_LENGTH = 10_000
MAX_TOPIC_LENGTH = 60
MAX_UPLOAD_MIB = 25  # what register reports (max_file_upload_size_mib)
WILDCARDS = {"all", "everyone", "stream", "channel"}

_API_ROUTE = re.compile(r"/api/v1/(?P<endpoint>users/me|register|events|messages|user_uploads)")
_MENTION = re.compile(r"(?<![^\s'\"\(\{\[/<])@(?P<silent>_?)\*\*(?P<name>[^*]+)\*\*")


@attrs.define(kw_only=True, eq=False)
class FakeZulip:
    """A running fake: its state, what it recorded, and the test's controls."""

    server: LoopbackServer
    api_key: str
    bot: ZulipUser
    heartbeat_seconds: float
    queue_timeout: float
    max_message_length: int
    max_upload_mib: int
    answers_url: bool = True
    users: dict[int, ZulipUser] = attrs.field(factory=dict)
    streams: dict[int, ZulipStream] = attrs.field(factory=dict)
    queues: dict[str, FakeEventQueue] = attrs.field(factory=dict)
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    sent: list[SentMessage] = attrs.field(factory=list)
    calls: list[ApiCall] = attrs.field(factory=list)
    downloads: list[Download] = attrs.field(factory=list)
    uploaded: list[Upload] = attrs.field(factory=list)
    uploads: dict[str, bytes] = attrs.field(factory=dict)
    faults: FaultPlan[Fault] = attrs.field(factory=FaultPlan)
    revoked: bool = False
    registered: int = 0
    _returned: dict[tuple[Any, ...], int] = attrs.field(factory=dict)
    _version: AsyncValue[int] = attrs.field(factory=lambda: AsyncValue(0))

    @property
    def base_url(self) -> str:
        """What the bot uses as `site`."""
        return self.server.base_url

    # -- the users' side --------------------------------------------------------

    def add_user(self, full_name: str, email: str, *, user_id: int | None = None) -> ZulipUser:
        """A new user of the organization."""
        new_id = user_id if user_id is not None else 100 + len(self.users)
        if new_id in self.users:
            raise ValueError(f"user id {new_id} is taken")
        user = ZulipUser(id=new_id, email=email, full_name=full_name)
        self.users[user.id] = user
        return user

    def add_stream(self, name: str, *, subscribed: bool = True) -> ZulipStream:
        """A new stream; the bot receives its messages when `subscribed`."""
        stream = ZulipStream(id=len(self.streams) + 1, name=name, subscribed=subscribed)
        self.streams[stream.id] = stream
        return stream

    def add_upload(self, content: bytes, file_name: str) -> str:
        """Store a file as Zulip's upload endpoint would; its link path."""
        path = f"/user_uploads/{REALM_ID}/{len(self.uploads):02x}/f{len(self.uploads)}/{file_name}"
        self.uploads[path] = content
        return path

    def send_direct(
        self, sender: ZulipUser, content: str, *, also_to: Sequence[ZulipUser] = ()
    ) -> dict[str, Any]:
        """`sender` writes to the bot (and `also_to`: a group direct message); the message."""
        people = {sender.id: sender, self.bot.id: self.bot}
        people.update({user.id: user for user in also_to})
        recipients = [people[i].recipient() for i in sorted(people)]
        return self._post(sender, content, {"type": "private", "display_recipient": recipients})

    def send_stream(
        self, sender: ZulipUser, stream: ZulipStream, topic: str, content: str
    ) -> dict[str, Any]:
        """`sender` writes in `topic` of `stream`; the message."""
        fields = {
            "type": "stream",
            "stream_id": stream.id,
            "display_recipient": stream.name,
            "subject": topic,
        }
        return self._post(sender, content, fields)

    # -- faults -----------------------------------------------------------------

    def fail_next(self, endpoint: str, fault: Fault, count: int = 1) -> None:
        """The next `count` calls of `endpoint` (`register`, `events`,
        `messages`, `users/me`, `user_uploads`, `download`) get `fault`
        instead of their answer."""
        self.faults.add(endpoint, fault, count)

    def revoke_api_key(self) -> None:
        """The bot's API key stops working (regenerated in its settings)."""
        self.revoked = True
        self.changed()

    def expire_queues(self) -> None:
        """Every queue is gone (collected, or lost in a server restart): a
        poll waiting on one answers `BAD_EVENT_QUEUE_ID` at once."""
        for queue in self.queues.values():
            queue.gone = True
        self.queues.clear()
        self.changed()

    # -- what the bot did -------------------------------------------------------

    def calls_to(self, endpoint: str) -> list[ApiCall]:
        """Every call of `endpoint`, in arrival order."""
        return [call for call in self.calls if call.endpoint == endpoint]

    async def wait_for_calls(self, endpoint: str, count: int) -> list[ApiCall]:
        """Wait until `endpoint` has been called `count` times; those calls."""
        await self.until(lambda: len(self.calls_to(endpoint)) >= count)
        return self.calls_to(endpoint)[:count]

    def direct_to(self, user: ZulipUser) -> list[SentMessage]:
        """Every direct message the bot sent to `user` alone, in order."""
        return [m for m in self.sent if m.kind == "private" and m.recipients == (user.id,)]

    def in_topic(self, stream: ZulipStream, topic: str) -> list[SentMessage]:
        """Every message the bot sent to `topic` of `stream`, in order."""
        return [m for m in self.sent if m.stream_id == stream.id and m.topic == topic]

    async def next_direct(self, user: ZulipUser) -> SentMessage:
        """The bot's next direct message to `user` not yet returned by this
        method, waiting for it (wrap in `trio.fail_after`)."""
        return await self._next(("direct", user.id), lambda: self.direct_to(user))

    async def next_in_topic(self, stream: ZulipStream, topic: str) -> SentMessage:
        """The bot's next message in `topic` of `stream` not yet returned."""
        return await self._next(("topic", stream.id, topic), lambda: self.in_topic(stream, topic))

    async def _next(
        self, key: tuple[Any, ...], found: Callable[[], list[SentMessage]]
    ) -> SentMessage:
        index = self._returned.get(key, 0)
        await self.until(lambda: len(found()) > index)
        self._returned[key] = index + 1
        return found()[index]

    @property
    def waiting_polls(self) -> int:
        """How many `GET /events` are waiting for an event right now."""
        return sum(queue.waiting for queue in self.queues.values())

    def pending_events(self) -> int:
        """Events queued for the bot and not yet acknowledged (heartbeats included)."""
        return sum(len(queue.events) for queue in self.queues.values())

    # -- for the endpoints ------------------------------------------------------

    def changed(self) -> None:
        """Wake everything waiting in `until` to re-check its condition."""
        self._version.value += 1

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds (checked now and after each change)."""
        await self._version.wait_value(lambda _: condition())

    def collect_idle_queues(self) -> None:
        """Drop the queues nobody polled for `queue_timeout` seconds."""
        now = trio.current_time()
        for queue_id, queue in list(self.queues.items()):
            if queue.idle_for(now) > self.queue_timeout:
                queue.gone = True
                del self.queues[queue_id]

    def _post(self, sender: ZulipUser, content: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Store a message and deliver it to the bot's queues, when it receives it."""
        message = {
            "id": 1000 + len(self.messages),
            "sender_id": sender.id,
            "sender_email": sender.email,
            "sender_full_name": sender.full_name,
            "content": content,
            "timestamp": int(trio.current_time()),
            "client": "test",
            "subject": "",
            "topic_links": [],
            "is_me_message": False,
            "reactions": [],
            "submessages": [],
            "content_type": "text/x-markdown",
            **fields,
        }
        self.messages.append(message)
        participant = fields["type"] == "private" and any(
            person["id"] == self.bot.id for person in fields["display_recipient"]
        )
        stream = self.streams.get(fields.get("stream_id", 0))
        if participant or (stream is not None and stream.subscribed):
            for queue in self.queues.values():
                if "message" in queue.event_types:
                    shown = dict(message)
                    if queue.apply_markdown:
                        shown["content"] = f"<p>{html.escape(content)}</p>"
                        shown["content_type"] = "text/html"
                    queue.add({"type": "message", "message": shown, "flags": self.flags(message)})
        self.changed()
        return message

    def flags(self, message: dict[str, Any]) -> list[str]:
        """The bot's flags for `message`, as the server computes them."""
        flags = ["read"] if message["sender_id"] == self.bot.id else []
        for found in _MENTION.finditer(message["content"]):
            name = found["name"]
            if found["silent"]:
                continue
            if name in WILDCARDS and message["type"] == "stream":
                flags.append("stream_wildcard_mentioned")
            elif name == "topic" and message["type"] == "stream":
                flags.append("topic_wildcard_mentioned")
            elif name.lower() == self.bot.full_name.lower() or name.endswith(f"|{self.bot.id}"):
                flags.append("mentioned")
        return sorted(set(flags))


@asynccontextmanager
async def serve_fake_zulip(
    *,
    api_key: str = DEFAULT_API_KEY,
    bot: ZulipUser = BOT,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    queue_timeout: float = QUEUE_TIMEOUT_SECONDS,
    max_message_length: int = MAX_MESSAGE_LENGTH,
    max_upload_mib: int = MAX_UPLOAD_MIB,
) -> AsyncIterator[FakeZulip]:
    """Run the fake on 127.0.0.1 for the duration of the block. A bug in
    the fake (a handler that raised) is raised when the block exits."""
    fake: FakeZulip | None = None

    async def respond(request: HttpRequest) -> HttpResponse:
        assert fake is not None
        return await _respond(fake, request)

    async with serve_http(respond) as server:
        fake = FakeZulip(
            server=server,
            api_key=api_key,
            bot=bot,
            heartbeat_seconds=heartbeat_seconds,
            queue_timeout=queue_timeout,
            max_message_length=max_message_length,
            max_upload_mib=max_upload_mib,
        )
        fake.users[bot.id] = bot
        yield fake


# ---- the endpoints ----------------------------------------------------------------------


class _Refused(Exception):
    """An error answer in Zulip's JSON."""

    def __init__(self, status: int, msg: str, code: str = "BAD_REQUEST", **extra: Any) -> None:
        super().__init__(msg)
        self.status, self.msg, self.code, self.extra = status, msg, code, extra

    def response(self) -> HttpResponse:
        body = {"result": "error", "msg": self.msg, "code": self.code, **self.extra}
        headers = {"www-authenticate": 'Basic realm="zulip"'} if self.status == 401 else {}
        return HttpResponse.json(self.status, body, headers)


def _success(**data: Any) -> HttpResponse:
    return HttpResponse.json(200, {"result": "success", "msg": "", **data})


async def _respond(fake: FakeZulip, request: HttpRequest) -> HttpResponse:
    """Route, authenticate, record, apply a queued fault, then run the endpoint."""
    fake.collect_idle_queues()
    target = urllib.parse.urlsplit(request.path)
    arguments = dict(urllib.parse.parse_qsl(target.query, keep_blank_values=True))
    form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
    if request.method == "POST" and form:
        arguments.update(urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True))
    if target.path.startswith("/user_uploads/"):
        endpoint = "download"
    else:
        route = _API_ROUTE.fullmatch(target.path)
        if route is None:
            return _Refused(404, "Not Found", "NOT_FOUND").response()
        endpoint = route["endpoint"]
    problem = _authenticate(fake, request.headers.get("authorization"))
    fake.calls.append(
        ApiCall(
            endpoint=endpoint,
            http_method=request.method,
            arguments=arguments,
            auth_ok=problem is None,
            at=trio.current_time(),
        )
    )
    fake.changed()
    replaced = await instead_of_answer(fake.faults.take(endpoint) if problem is None else None)
    if replaced is not None:
        return replaced
    if endpoint == "download":
        return _download(fake, urllib.parse.unquote(target.path), authenticated=problem is None)
    if problem is not None:
        return problem.response()
    if (endpoint, request.method) == ("user_uploads", "POST"):
        return _upload(fake, request)
    handler = {
        ("users/me", "GET"): _users_me,
        ("register", "POST"): _register,
        ("events", "GET"): _events,
        ("messages", "POST"): _send_message,
    }.get((endpoint, request.method))
    if handler is None:
        return _Refused(405, "Method Not Allowed", "BAD_REQUEST").response()
    try:
        return await handler(fake, arguments)
    except _Refused as refused:
        return refused.response()


def _authenticate(fake: FakeZulip, header: str | None) -> _Refused | None:
    if not header or not header.startswith("Basic "):
        return _Refused(
            401, "Not logged in: API authentication or user session required", "UNAUTHORIZED"
        )
    try:
        email, _, key = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return _Refused(401, "Invalid API key", "INVALID_API_KEY")
    if email.lower() != fake.bot.email.lower() or key != fake.api_key or fake.revoked:
        return _Refused(401, "Invalid API key", "INVALID_API_KEY")
    return None


async def _users_me(fake: FakeZulip, arguments: Mapping[str, str]) -> HttpResponse:
    bot = fake.bot
    return _success(
        user_id=bot.id, email=bot.email, full_name=bot.full_name, is_bot=True, is_active=True
    )


async def _register(fake: FakeZulip, arguments: Mapping[str, str]) -> HttpResponse:
    event_types = _json_argument(arguments, "event_types", None)
    fetch = _json_argument(arguments, "fetch_event_types", event_types)
    apply_markdown = _json_argument(arguments, "apply_markdown", False)
    wanted = (
        None if fetch is None else set(_strings(fetch, "fetch_event_types"))
    )  # None: everything
    types = (
        frozenset({"message", "heartbeat"})
        if event_types is None
        else frozenset(_strings(event_types, "event_types"))
    )
    if not isinstance(apply_markdown, bool):
        raise _Refused(400, "Invalid apply_markdown")
    fake.registered += 1
    queue = FakeEventQueue(
        id=f"1767225600:{fake.registered}",
        event_types=types,
        apply_markdown=apply_markdown,
        last_contact=trio.current_time(),
    )
    fake.queues[queue.id] = queue
    data: dict[str, Any] = {
        "queue_id": queue.id,
        "last_event_id": -1,
        "zulip_version": "10.0",
        "zulip_feature_level": 300,
    }
    if wanted is None or "realm" in wanted:
        data.update(
            max_message_length=fake.max_message_length,
            max_topic_length=MAX_TOPIC_LENGTH,
            event_queue_longpoll_timeout_seconds=LONGPOLL_TIMEOUT_SECONDS,
            max_file_upload_size_mib=fake.max_upload_mib,
            realm_name="Fake organization",
        )
    fake.changed()
    return _success(**data)


async def _events(fake: FakeZulip, arguments: Mapping[str, str]) -> HttpResponse:
    queue_id = arguments.get("queue_id", "")
    queue = fake.queues.get(queue_id)
    if queue is None:
        raise _Refused(
            400, f"Bad event queue ID: {queue_id}", "BAD_EVENT_QUEUE_ID", queue_id=queue_id
        )
    last = _json_argument(arguments, "last_event_id", None)
    if not isinstance(last, int) or isinstance(last, bool):
        raise _Refused(400, "Missing 'last_event_id' argument")
    try:
        queue.prune(last)
    except QueueRefusal as refusal:
        raise _Refused(400, str(refusal)) from None
    queue.last_contact = trio.current_time()
    if not queue.events:
        queue.waiting += 1
        fake.changed()
        try:
            with trio.move_on_after(fake.heartbeat_seconds):
                await fake.until(lambda: bool(queue.events) or queue.gone)
        finally:
            queue.waiting -= 1
            queue.last_contact = trio.current_time()
            fake.changed()
        if queue.gone:
            raise _Refused(
                400, f"Bad event queue ID: {queue_id}", "BAD_EVENT_QUEUE_ID", queue_id=queue_id
            )
        if not queue.events:
            queue.add({"type": "heartbeat"})
    return _success(events=list(queue.events), queue_id=queue.id)


async def _send_message(fake: FakeZulip, arguments: Mapping[str, str]) -> HttpResponse:
    content = arguments.get("content")
    if content is None:
        raise _Refused(400, "Missing 'content' argument")
    if "\x00" in content:
        raise _Refused(400, "Message must not contain null bytes")
    body = content.rstrip().lstrip("\n")
    if not body:
        raise _Refused(400, "Message must not be empty")
    if len(body) > fake.max_message_length:
        raise _Refused(
            400, f"Message is too long ({len(body)} > {fake.max_message_length} characters)"
        )
    kind = arguments.get("type", "")
    target = _json_argument(arguments, "to", None)
    if kind in ("private", "direct"):
        people = [_user(fake, person) for person in _list(target)]
        recipients = tuple(sorted({user.id for user in people} - {fake.bot.id}))
        everyone = sorted({fake.bot.id, *recipients})
        fields: dict[str, Any] = {
            "type": "private",
            "display_recipient": [fake.users[i].recipient() for i in everyone],
        }
        stream_id, topic = None, None
    elif kind in ("stream", "channel"):
        stream = _stream(fake, target)
        topic = arguments.get("topic", arguments.get("subject"))
        if topic is None:
            raise _Refused(400, "Missing 'topic' argument")
        if len(topic) > MAX_TOPIC_LENGTH:
            topic = topic[: MAX_TOPIC_LENGTH - 3] + "..."
        fields = {
            "type": "stream",
            "stream_id": stream.id,
            "display_recipient": stream.name,
            "subject": topic,
        }
        recipients, stream_id = (), stream.id
    else:
        raise _Refused(400, f"Invalid message type: {kind!r}")
    message = fake._post(fake.bot, body, fields)
    fake.sent.append(
        SentMessage(
            id=message["id"],
            kind=fields["type"],
            recipients=recipients,
            stream_id=stream_id,
            topic=topic,
            content=body,
            at=trio.current_time(),
        )
    )
    fake.changed()
    return _success(id=message["id"])


def _upload(fake: FakeZulip, request: HttpRequest) -> HttpResponse:
    """Store the request's one file as the real server does; its link path."""
    try:
        file = read_upload(request, max_mib=fake.max_upload_mib)
    except UploadRefused as refused:
        return _Refused(400, str(refused)).response()
    path = upload_path(REALM_ID, len(fake.uploads), file.file_name)
    fake.uploads[path] = file.content
    fake.uploaded.append(
        Upload(
            path=path,
            file_name=file.file_name,
            content_type=file.content_type,
            content=file.content,
            at=trio.current_time(),
        )
    )
    fake.changed()
    link = {"uri": path, "url": path} if fake.answers_url else {"uri": path}
    return _success(**link, filename=file.file_name)


def _download(fake: FakeZulip, path: str, *, authenticated: bool) -> HttpResponse:
    content = fake.uploads.get(path) if authenticated else None
    fake.downloads.append(
        Download(
            path=path,
            served=content is not None,
            authenticated=authenticated,
            at=trio.current_time(),
        )
    )
    fake.changed()
    if not authenticated:
        return _Refused(401, "Not logged in", "UNAUTHORIZED").response()
    if content is None:
        return HttpResponse(status=404, headers={"content-type": "text/html"}, body=b"Not Found")
    return HttpResponse(
        status=200, headers={"content-type": "application/octet-stream"}, body=content
    )


# ---- arguments --------------------------------------------------------------------------


def _json_argument(arguments: Mapping[str, str], name: str, default: Any) -> Any:
    """An argument Zulip reads as JSON, or its text when it is not JSON (a name)."""
    if name not in arguments:
        return default
    try:
        return json.loads(arguments[name])
    except ValueError:
        return arguments[name]


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _Refused(400, f"{name} is not a list of strings")
    return value


def _list(value: Any) -> list[Any]:
    if isinstance(value, list) and value:
        return value
    raise _Refused(400, "Invalid 'to' argument: a direct message needs a list of recipients")


def _user(fake: FakeZulip, person: Any) -> ZulipUser:
    if isinstance(person, int) and not isinstance(person, bool) and person in fake.users:
        return fake.users[person]
    if isinstance(person, str):
        for user in fake.users.values():
            if user.email.lower() == person.lower():
                return user
    raise _Refused(400, f"Invalid user ID {person}")


def _stream(fake: FakeZulip, target: Any) -> ZulipStream:
    if isinstance(target, int) and not isinstance(target, bool) and target in fake.streams:
        return fake.streams[target]
    if isinstance(target, str):
        for stream in fake.streams.values():
            if stream.name.lower() == target.lower():
                return stream
    raise _Refused(400, f"Channel with ID '{target}' does not exist", "STREAM_DOES_NOT_EXIST")
