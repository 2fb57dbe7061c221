"""A loopback fake of Slack (the Web API methods the channel uses, and Socket Mode).

    async with serve_fake_slack() as fake:
        alice = fake.add_user("U1001", "alice")
        fake.post_dm(alice, "hello")
        reply = await fake.next_message(alice.dm)
        assert reply.text == "Hi Alice!"

Only the far end is fake. Web API methods are POSTed to `{api_base}/<method>`
(`api_base` is `{base_url}/api`) with the token in `Authorization: Bearer`,
JSON or form fields, and answered in Slack's `{"ok": ...}` envelope: auth.test
(bot token), apps.connections.open (app token: a single-use `ws://` URL to
the socket server), chat.postMessage, files.getUploadURLExternal (its upload
URL takes the bytes), files.completeUploadExternal. A missing token is
`not_authed`, a wrong one `invalid_auth`, a token of the other kind
`not_allowed_token_type`, a revoked one `token_revoked`; an unknown method
`unknown_method` (404). Private file URLs (`add_file`) serve their bytes only
with the bot token, or redirect where a test says.

Socket Mode (`autobot.testing.slack.socket`): `hello` on connect, envelopes
round-robin over open connections, redelivery of what is not acknowledged
within `retry_seconds` (`retry_attempt` / `retry_reason`), `disconnect`
frames with any reason, dropped and stalled connections. Events are built
as Slack builds them (`autobot.testing.slack.events`): a DM is a `message`
(`channel_type: im`), a mention in a channel an `app_mention` (and also a
`message` when `message.channels` is subscribed); the bot's own posts come
back as `message` events with its `bot_id`, as Slack echoes them.

A test plays the users (`post_dm`, `post_in_channel`, `inject_event`,
`add_file`), reads what the bot did (`posted`, `next_message`, `calls`,
`deliveries`, `acks`, `downloads`, `uploads`, `connections`), and makes
things fail (`fail_next`, `revoke_bot_token`, `revoke_app_token`,
`disconnect`, `drop`, `stall`, `ignore_acks`). Everything timed runs on
trio's clock, so `autojump_clock` tests can assert exact virtual times.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from autobot.testing.http_server import (
    HttpRequest,
    HttpResponse,
    LoopbackServer,
    serve_http,
    single_exceptions_unwrapped,
)
from autobot.testing.slack.connection import FakeConnection
from autobot.testing.slack.events import TEAM_ID, escape, message_event
from autobot.testing.slack.faults import Fault, FaultKind, FaultPlan
from autobot.testing.slack.methods import METHODS, MethodError
from autobot.testing.slack.records import ApiCall, Download, PostedMessage, SlackUser
from autobot.testing.slack.socket import deliver_envelopes, serve_sockets
from autobot.testing.slack.state import BOT_USER_ID as BOT_USER_ID
from autobot.testing.slack.state import MAX_RETRIES, SlackState
from autobot.testing.slack.state import RETRY_SECONDS as RETRY_SECONDS

DEFAULT_BOT_TOKEN = "xoxb-1000000001-2000000002-FakeBotTokenForLoopback"
DEFAULT_APP_TOKEN = "xapp-1-A0FAKE01-3000000003-fakeapptokenforloopback"
CLOSE_AFTER_SECONDS = 10.0  # a `warning` comes about 10 s before the close
_CHANNEL_EVENTS = {"channel": "message.channels", "group": "message.groups", "mpim": "message.mpim"}


@attrs.define(kw_only=True)
class StoredFile:
    """A private file: its bytes, or a redirect to `redirect_to`."""

    content: bytes
    redirect_to: str | None = None


@attrs.define(kw_only=True, eq=False)
class FakeSlack(SlackState):
    """A running fake: the server's state (`SlackState`), the HTTP server,
    what only the HTTP side records, and the test's controls."""

    server: LoopbackServer
    bot_token: str = DEFAULT_BOT_TOKEN
    app_token: str = DEFAULT_APP_TOKEN
    bot_token_revoked: bool = False
    app_token_revoked: bool = False
    users: dict[str, SlackUser] = attrs.field(factory=dict)
    calls: list[ApiCall] = attrs.field(factory=list)
    downloads: list[Download] = attrs.field(factory=list)
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    files: dict[str, StoredFile] = attrs.field(factory=dict)
    _returned: dict[str, int] = attrs.field(factory=dict)

    @property
    def api_base(self) -> str:
        """What the channel uses as `api_base`."""
        return f"{self.base_url}/api"

    # -- the users' side --------------------------------------------------------

    def add_user(self, user_id: str, name: str) -> SlackUser:
        """A person in the workspace, with a DM channel with the bot."""
        user = SlackUser(id=user_id, name=name)
        self.users[user_id] = user
        self.channels[user.dm] = "im"
        return user

    def add_channel(self, channel_id: str, kind: str = "channel") -> str:
        """A channel the bot is a member of (`kind`: channel, group or mpim)."""
        if kind not in _CHANNEL_EVENTS:
            raise ValueError(f"a channel kind is channel, group or mpim, not {kind!r}")
        self.channels[channel_id] = kind
        return channel_id

    def add_file(
        self,
        content: bytes,
        *,
        name: str,
        mimetype: str = "application/octet-stream",
        redirect_to: str | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        """A file a user uploaded; the file object a message carries (its
        `url_private_download` serves `content` with the bot token, or
        redirects to `redirect_to`). `size` overrides the reported size."""
        file_id = f"F{self.next_number():08d}"
        quoted = urllib.parse.quote(name, safe="")
        path = f"/files-pri/{TEAM_ID}-{file_id}/download/{quoted}"
        self.files[path] = StoredFile(content=content, redirect_to=redirect_to)
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rpartition(".")[2] if "." in name else "binary",
            "size": len(content) if size is None else size,
            "url_private": f"{self.base_url}/files-pri/{TEAM_ID}-{file_id}/{quoted}",
            "url_private_download": f"{self.base_url}{path}",
        }

    def post_dm(
        self,
        user: SlackUser,
        text: str,
        *,
        thread_ts: str | None = None,
        files: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        """`user` writes `text` (as typed: the fake escapes it) to the bot in
        their DM; the message's ts. Delivered if `message.im` is subscribed."""
        ts = self.new_ts()
        if "message.im" in self.subscriptions:
            self.inject_event(
                message_event(
                    user=user.id,
                    channel=user.dm,
                    channel_type="im",
                    text=escape(text),
                    ts=ts,
                    thread_ts=thread_ts,
                    files=files,
                )
            )
        return ts

    def post_in_channel(
        self,
        user: SlackUser,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: Sequence[Mapping[str, Any]] = (),
    ) -> str:
        """`user` writes `text` in `channel` (mentions as `<@U…>` tokens, kept;
        everything else escaped); the message's ts. It becomes an `app_mention`
        when it mentions the bot, and a `message` when that channel kind's
        message events are subscribed: both, with two event ids, when both."""
        kind = self.channels.get(channel)
        if kind not in _CHANNEL_EVENTS:
            raise ValueError(f"{channel} is not a channel of the fake (add_channel)")
        ts = self.new_ts()
        slack_text = _escape_keeping_mentions(text)
        common = {"user": user.id, "channel": channel, "channel_type": kind, "ts": ts}
        if _CHANNEL_EVENTS[kind] in self.subscriptions:
            self.inject_event(
                message_event(**common, text=slack_text, thread_ts=thread_ts, files=files)
            )
        if f"<@{self.bot_user_id}>" in text and "app_mention" in self.subscriptions:
            self.inject_event(
                message_event(
                    **common, text=slack_text, thread_ts=thread_ts, files=files, kind="app_mention"
                )
            )
        return ts

    # -- faults -----------------------------------------------------------------

    def fail_next(self, method: str, fault: Fault, count: int = 1) -> None:
        """The next `count` calls of `method` get `fault` instead of their answer."""
        self.faults.add(method, fault, count)

    def revoke_bot_token(self) -> None:
        """Every bot-token call answers `token_revoked` from now on."""
        self.bot_token_revoked = True

    def revoke_app_token(self) -> None:
        """apps.connections.open answers `token_revoked` from now on."""
        self.app_token_revoked = True

    def _connection(self, number: int | None) -> FakeConnection:
        if number is None:
            found = self.open_connections()
            if not found:
                raise ValueError("no connection is open")
            return found[-1]
        return self.connections[number - 1]

    async def disconnect(
        self, reason: str, *, connection: int | None = None, close_after: float | None = None
    ) -> None:
        """Send `{"type": "disconnect", "reason": reason}` on `connection`
        (default the newest open one), then close it `close_after` seconds later
        (default `CLOSE_AFTER_SECONDS`; at once for `link_disabled`), unless the
        client closed it first."""
        target = self._connection(connection)
        target.draining = True
        await target.send({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})
        self.changed()
        delay = (
            close_after
            if close_after is not None
            else 0.0
            if reason == "link_disabled"
            else CLOSE_AFTER_SECONDS
        )
        assert self.nursery is not None
        self.nursery.start_soon(self._close_later, target, delay)

    async def _close_later(self, target: FakeConnection, delay: float) -> None:
        await trio.sleep(delay)
        if target.open:
            with trio.move_on_after(CLOSE_AFTER_SECONDS):
                await target.ws.aclose(1001, "going away")

    async def drop(self, connection: int | None = None) -> None:
        """Close `connection`'s TCP connection at once (no close frame)."""
        await self._connection(connection).stream.drop()

    def stall(self, connection: int | None = None) -> None:
        """`connection` goes silent both ways (pings are not answered)."""
        self._connection(connection).stream.stall()

    # -- what the bot did -------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    async def wait_for_calls(self, method: str, count: int) -> list[ApiCall]:
        await self.until(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)[:count]

    def messages_in(self, channel: str) -> list[PostedMessage]:
        return [message for message in self.posted if message.channel == channel]

    async def next_message(self, channel: str) -> PostedMessage:
        """The bot's next message in `channel` not yet returned by this method,
        waiting for it if needed (wrap in `trio.fail_after`)."""
        await self.until(lambda: len(self.messages_in(channel)) > self._returned.get(channel, 0))
        index = self._returned.get(channel, 0)
        self._returned[channel] = index + 1
        return self.messages_in(channel)[index]

    def acked_events(self) -> list[str]:
        """Event ids acknowledged (on the connection they went over), in order."""
        by_envelope = {d.envelope_id: d.event_id for d in self.deliveries}
        return [by_envelope[a.envelope_id] for a in self.acks if a.known]

    # -- the fake's own tasks ----------------------------------------------------

    nursery: trio.Nursery | None = attrs.field(init=False, default=None)


def _escape_keeping_mentions(text: str) -> str:
    """Slack's form of a user's text: escaped, except `<@U…>` mention tokens."""
    parts = text.split("<@")
    out = [escape(parts[0])]
    for part in parts[1:]:
        user, closing, rest = part.partition(">")
        if closing and user.isalnum():
            out.append(f"<@{user}>{escape(rest)}")
        else:
            out.append(escape("<@" + part))
    return "".join(out)


@asynccontextmanager
async def serve_fake_slack(
    *,
    retry_seconds: float = RETRY_SECONDS,
    max_retries: int = MAX_RETRIES,
) -> AsyncIterator[FakeSlack]:
    """Run the fake on 127.0.0.1 for the duration of the block. An exception
    raised in the block propagates as itself; a bug in the fake (a handler
    that raised) is raised when the block exits, as `serve_http` does."""
    fake: FakeSlack | None = None

    async def respond(request: HttpRequest) -> HttpResponse:
        assert fake is not None
        return await _respond(fake, request)

    async with serve_http(respond) as server:
        fake = FakeSlack(
            server=server,
            base_url=server.base_url,
            retry_seconds=retry_seconds,
            max_retries=max_retries,
        )
        with single_exceptions_unwrapped():
            async with trio.open_nursery() as nursery:
                fake.nursery = nursery
                fake.socket_port = await nursery.start(serve_sockets, fake)
                nursery.start_soon(deliver_envelopes, fake)
                yield fake
                nursery.cancel_scope.cancel("the fake Slack block exited")


def _answer(
    status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> HttpResponse:
    return HttpResponse.json(status, dict(payload), headers=headers)


def _token_of(fake: FakeSlack, request: HttpRequest) -> str:
    header = request.headers.get("authorization", "")
    if not header:
        return "none"
    token = header.removeprefix("Bearer ")
    if token == fake.bot_token:
        return "bot"
    if token == fake.app_token:
        return "app"
    return "wrong"


def _arguments(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        value = json.loads(request.body)
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value
    fields = urllib.parse.parse_qs(
        request.body.decode(), keep_blank_values=True, strict_parsing=True
    )
    return {name: values[-1] for name, values in fields.items()}


async def _respond(fake: FakeSlack, request: HttpRequest) -> HttpResponse:
    """Route: files, uploads, or a method (authenticate, record, fault, answer)."""
    path = urllib.parse.urlsplit(request.path).path
    if path.startswith("/files-pri/"):
        return _download(fake, request, path)
    if path.startswith("/upload/"):
        return _upload(fake, request, path.removeprefix("/upload/"))
    method = path.removeprefix("/api/")
    try:
        arguments = _arguments(request)
    except (ValueError, UnicodeDecodeError):
        return _answer(200, {"ok": False, "error": "invalid_form_data"})
    token = _token_of(fake, request)
    fake.calls.append(
        ApiCall(method=method, arguments=arguments, token=token, at=trio.current_time())
    )
    fake.changed()
    known = METHODS.get(method)
    if known is None or not path.startswith("/api/"):
        return _answer(404, {"ok": False, "error": "unknown_method"})
    needs, handler = known
    refusal = _refused(fake, token, needs)
    if refusal is not None:
        return _answer(200, {"ok": False, "error": refusal})
    fault = fake.faults.take(method)
    if fault is not None:
        if fault.kind is FaultKind.DROP:
            return HttpResponse.dropped()
        if fault.kind is FaultKind.STALL:
            await trio.sleep(fault.seconds)
        elif fault.error:
            headers = {} if fault.retry_after is None else {"retry-after": str(fault.retry_after)}
            return _answer(fault.status, {"ok": False, "error": fault.error}, headers)
        else:
            return HttpResponse(
                status=fault.status,
                headers={"content-type": "text/html"},
                body=b"<html>error</html>",
            )
    try:
        return _answer(200, {"ok": True, **handler(fake, arguments)})
    except MethodError as error:
        return _answer(200, {"ok": False, "error": error.error})


def _refused(fake: FakeSlack, token: str, needs: str) -> str | None:
    if token == "none":
        return "not_authed"
    if token == "wrong":
        return "invalid_auth"
    if token != needs:
        return "not_allowed_token_type"
    revoked = fake.bot_token_revoked if token == "bot" else fake.app_token_revoked
    return "token_revoked" if revoked else None


def _download(fake: FakeSlack, request: HttpRequest, path: str) -> HttpResponse:
    authorized = _token_of(fake, request) == "bot" and not fake.bot_token_revoked
    stored = fake.files.get(path) if authorized else None
    fake.downloads.append(
        Download(
            path=path, authorized=authorized, served=stored is not None, at=trio.current_time()
        )
    )
    fake.changed()
    if stored is None:
        # Slack answers an unauthenticated file URL with its sign-in page, not the file
        return HttpResponse(
            status=302 if not authorized else 404, headers={"location": f"{fake.base_url}/signin"}
        )
    if stored.redirect_to is not None:
        return HttpResponse(status=302, headers={"location": stored.redirect_to})
    return HttpResponse(
        status=200, headers={"content-type": "application/octet-stream"}, body=stored.content
    )


def _upload(fake: FakeSlack, request: HttpRequest, file_id: str) -> HttpResponse:
    reserved = fake.reserved.get(file_id)
    if reserved is None or request.method != "POST" or len(request.body) != reserved.length:
        return HttpResponse(status=400, body=b"bad upload")
    reserved.data = request.body
    fake.changed()
    return HttpResponse(status=200, body=f"OK - {len(request.body)}".encode())
