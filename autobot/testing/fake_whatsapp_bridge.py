"""A fake of autobot's WhatsApp bridge: the protocol's far end, without WhatsApp.

    async with serve_fake_bridge(key, unix=tmp_path / "bridge.sock") as bridge:
        ...channel connects to bridge.endpoint...
        bridge.post(direct_message("+15551234567", "hello"))
        await bridge.until(lambda: bridge.sent_texts("15551234567@s.whatsapp.net"))

It speaks protocol version 2 exactly as the contract says
(`autobot.channels.whatsapp.protocol`), on loopback TCP and/or a Unix socket
(created 0600), with trio-websocket:

- an upgrade request carrying an `Origin` (or `Sec-WebSocket-Origin`) header
  is refused with HTTP 403 before any WebSocket exists (not counted as a
  failure: a web page must not lock the real client out); after
  `FAILURE_LIMIT` failed handshakes within `FAILURE_WINDOW` seconds every
  upgrade gets HTTP 429 for `FAILURE_WINDOW`;
- the handshake: a fresh `challenge`, the client's `auth` within
  `AUTH_SECONDS` (else close 4002), a wrong or malformed MAC (a replayed
  answer included) 4001, another frame 4003, another version 4004, frames
  over 256 KiB 1009, binary frames 1003; then `welcome` (whose MAC is wrong in
  `impostor` mode: a fake bridge that does not know the secret), a `status`
  frame (`link_state`), and every message not yet acknowledged, oldest first;
- one authenticated client at a time (a new one replaces the old: 4009);
  the next `drops_after_welcome` ones are dropped right after `welcome` (a
  bridge that keeps failing);
- `message` frames posted by the test (`post`) are kept until acknowledged
  (unless `ignore_acks`: an acknowledgement lost on the way; `on_ack` sees
  each one as it arrives),
  at most `KEEP_PENDING` (persisted in `state_file` when given, so a restart
  of a subprocess fake keeps them);
- `fetch_media` for a kept message "downloads" the bytes the test posted
  with it (`post(..., content=...)`) into `workspace/inbox/` under a name
  made from the message (`inbox_name`; written aside, then renamed over it:
  fetching again replaces the file) and answers `media` (a failure entry for
  a media without content or over `max_file_bytes`); each download is
  recorded (`fetches`); a message not kept gets `unknown_message`; the next
  queued `fetch_faults` entry can make it fail instead (`SendFault`);
- `send` / `send_media` requests are recorded and answered `sent`, or as the
  next queued `SendFault` says (an error code, no answer at all, a dropped
  connection before or after sending); like the real bridge it remembers
  the last `KEEP_OUTCOMES` final answers (`sent`, `path_refused`,
  `too_large`; persisted with the pending messages) and answers a repeated
  request id with its recorded answer without sending again; `send_media`
  paths are checked like the real bridge (a regular file strictly inside
  `workspace`, at most `max_file_bytes`); unknown types get `unknown_type`.

Everything timed runs on trio's clock (`autojump_clock` tests assert exact
virtual times). `python -m autobot.testing.fake_whatsapp_process` runs it as
a process with the real bridge's command line, for the managed-bridge and
`kill -9` tests.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import os
import re
import secrets
import socket
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_util import AsyncValue
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
    serve_websocket,
    wrap_server_stream,
)

from autobot.channels.base import AttachmentKind
from autobot.channels.whatsapp.endpoint import UnixEndpoint, UrlEndpoint
from autobot.channels.whatsapp.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Auth,
    BridgeError,
    BridgeMessage,
    Challenge,
    CloseCode,
    ErrorCode,
    FetchedMedia,
    FetchMedia,
    FrameTooLarge,
    LinkState,
    Media,
    MediaFailure,
    ProtocolError,
    Qr,
    SavedMedia,
    Send,
    SendMedia,
    Sent,
    Status,
    UnknownFrame,
    Welcome,
    bridge_mac,
    client_mac,
    decode_bridge_frame,
    decode_client_frame,
    encode_frame,
    mac_matches,
)
from autobot.store.atomic import write_private_file

AUTH_SECONDS = 5.0
FAILURE_LIMIT = 5
FAILURE_WINDOW = 60.0
KEEP_PENDING = 1000
KEEP_OUTCOMES = 1000
FINAL_ERRORS = frozenset({ErrorCode.PATH_REFUSED, ErrorCode.TOO_LARGE})  # recorded like `sent`
OUTGOING_FRAMES = 4096  # frames queued for the client; far above any test's volume
FRAME_QUEUE_SIZE = 32
DEFAULT_PHONE = "+15551234567"


def user_jid(phone: str) -> str:
    """The user JID of `+<digits>`."""
    return f"{phone.removeprefix('+')}@s.whatsapp.net"


@attrs.frozen
class SendFault:
    """How the fake answers one request (`send`/`send_media`, or
    `fetch_media` from `fetch_faults`): an `error` frame with `code`, no
    answer at all (`stall`), a dropped connection before acting (`drop`), or
    (a send) a dropped connection after sending, the answer lost with it
    (`drop_after_send`)."""

    code: str | None = None
    stall: bool = False
    drop: bool = False
    drop_after_send: bool = False

    @classmethod
    def error(cls, code: str) -> SendFault:
        return cls(code=code)


@attrs.frozen
class Refusal:
    """A failed handshake: the close code (or HTTP status) and when."""

    code: int
    at: float


@attrs.define(eq=False)
class _Client:
    socket: WebSocketConnection
    outgoing: trio.MemorySendChannel[str]


def direct_message(
    phone: str,
    text: str,
    *,
    message_id: str,
    push_name: str | None = "Alice",
    phone_known: bool = True,
    media: Sequence[Media] = (),
    timestamp: float = 1_760_000_000.0,
) -> BridgeMessage:
    """A private message from `phone` (`phone_known=False`: the bridge sends
    no phone field, only the sender JID), listing `media` (nothing downloaded)."""
    jid = user_jid(phone)
    return BridgeMessage(
        id=message_id,
        chat=jid,
        sender=jid,
        phone=phone if phone_known else None,
        push_name=push_name,
        text=text,
        timestamp=timestamp,
        is_group=False,
        mentioned=False,
        reply_to_bot=False,
        reply_to=None,
        media=tuple(media),
    )


def group_message(
    group: str,
    phone: str,
    text: str,
    *,
    message_id: str,
    mentioned: bool = False,
    reply_to_bot: bool = False,
    push_name: str | None = "Alice",
) -> BridgeMessage:
    """A message from `phone` in the group `group` (a `...@g.us` JID)."""
    return attrs.evolve(
        direct_message(phone, text, message_id=message_id, push_name=push_name),
        chat=group,
        is_group=True,
        mentioned=mentioned,
        reply_to_bot=reply_to_bot,
    )


@attrs.define(kw_only=True, eq=False)
class FakeBridge:
    """The fake's state and behaviour (see the module docstring)."""

    key: bytes = attrs.field(repr=False)
    workspace: Path | None = None
    max_file_bytes: int = 20 * 1024 * 1024
    state_file: Path | None = None
    impostor: bool = False
    link_state: LinkState = LinkState.OPEN
    ignore_acks: bool = False
    on_ack: Callable[[str], None] | None = None
    on_fetch: Callable[[str], None] | None = None
    drops_after_welcome: int = 0
    endpoints: list[UnixEndpoint | UrlEndpoint] = attrs.field(factory=list)
    pending: dict[str, BridgeMessage] = attrs.field(factory=dict)
    content: dict[str, bytes] = attrs.field(factory=dict)  # message id -> its media's bytes
    acks: list[str] = attrs.field(factory=list)
    fetches: list[str] = attrs.field(factory=list)  # message ids whose media were downloaded
    requests: list[Send | SendMedia] = attrs.field(factory=list)
    request_times: list[float] = attrs.field(factory=list)
    delivered: list[Send | SendMedia] = attrs.field(factory=list)
    outcomes: dict[str, Sent | BridgeError] = attrs.field(factory=dict)
    refusals: list[Refusal] = attrs.field(factory=list)
    handshakes: list[float] = attrs.field(factory=list)
    auth_frames: list[str] = attrs.field(factory=list)
    faults: collections.deque[SendFault] = attrs.field(factory=collections.deque)
    fetch_faults: collections.deque[SendFault] = attrs.field(factory=collections.deque)
    _client: _Client | None = attrs.field(default=None, init=False)
    _blocked_until: float = attrs.field(default=float("-inf"), init=False)
    _next_id: int = attrs.field(default=0, init=False)
    _version: AsyncValue[int] = attrs.field(factory=lambda: AsyncValue(0), init=False)

    def __attrs_post_init__(self) -> None:
        if self.state_file is not None and self.state_file.exists():
            saved = json.loads(self.state_file.read_text())
            messages = [decode_bridge_frame(json.dumps(item)) for item in saved["pending"]]
            self.pending = {m.id: m for m in messages if isinstance(m, BridgeMessage)}
            answers = [decode_bridge_frame(json.dumps(item)) for item in saved["outcomes"]]
            self.outcomes = {
                a.request_id: a
                for a in answers
                if isinstance(a, Sent | BridgeError) and a.request_id is not None
            }

    # ---- what the test does ---------------------------------------------------------

    @property
    def endpoint(self) -> UnixEndpoint | UrlEndpoint:
        """The first place it listens."""
        return self.endpoints[0]

    @property
    def connected(self) -> bool:
        return self._client is not None

    def message_id(self) -> str:
        """A fresh WhatsApp-looking message id."""
        self._next_id += 1
        return f"3EB0{self._next_id:016X}"

    def post(self, message: BridgeMessage, *, content: bytes | None = None) -> BridgeMessage:
        """A WhatsApp message arrives: kept until acknowledged, delivered now
        if a client is connected; `content` is what a fetch of its media
        downloads (kept in memory only: not in `state_file`)."""
        self.pending[message.id] = message
        if content is not None:
            self.content[message.id] = content
        while len(self.pending) > KEEP_PENDING:
            self.pending.pop(next(iter(self.pending)))
        self._save()
        self._push(encode_frame(message))
        self._changed()
        return message

    def push_status(self, state: LinkState, detail: str = "") -> None:
        """The WhatsApp session changes state (told to the client, if any)."""
        self.link_state = state
        self._push(encode_frame(Status(state=state, detail=detail)))

    def push_qr(self, payload: str, png: str | None) -> None:
        """A new QR code to link the phone."""
        self._push(encode_frame(Qr(png=png, payload=payload)))

    def push_raw(self, text: str) -> None:
        """Any text frame, as is (for protocol-error tests)."""
        self._push(text)

    async def drop_client(self, code: int = 1001, reason: str = "going away") -> None:
        """Close the authenticated client's connection (a bridge restart, a network cut)."""
        client = self._client
        if client is not None:
            self._client = None
            client.outgoing.close()
            with trio.move_on_after(2, shield=True):
                await client.socket.aclose(code, reason)
            self._changed()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds (checked now and after each change)."""
        await self._version.wait_value(lambda _: condition())

    def sent_texts(self, to: str) -> list[str]:
        """The texts sent (answered `sent`) to the JID `to`, in order."""
        return [r.text for r in self.delivered if isinstance(r, Send) and r.to == to]

    def refused_codes(self) -> list[int]:
        return [refusal.code for refusal in self.refusals]

    # ---- the protocol ---------------------------------------------------------------

    def _changed(self) -> None:
        self._version.value += 1

    def _push(self, text: str) -> None:
        if self._client is not None:
            self._client.outgoing.send_nowait(text)

    def _save(self) -> None:
        """Persist the pending messages and the recorded outcomes (a test
        fake: a tiny file, written at once)."""
        if self.state_file is not None:
            state = {
                "pending": [json.loads(encode_frame(m)) for m in self.pending.values()],
                "outcomes": [json.loads(encode_frame(a)) for a in self.outcomes.values()],
            }
            write_private_file(self.state_file, json.dumps(state))

    def _refused(self, code: int) -> None:
        """Record a failed handshake; the `FAILURE_LIMIT`th within
        `FAILURE_WINDOW` blocks upgrades for `FAILURE_WINDOW` seconds."""
        now = trio.current_time()
        self.refusals.append(Refusal(code=code, at=now))
        recent = [
            r for r in self.refusals if r.code not in _UNCOUNTED and now - r.at < FAILURE_WINDOW
        ]
        if code not in _UNCOUNTED and len(recent) >= FAILURE_LIMIT:
            self._blocked_until = now + FAILURE_WINDOW
        self._changed()

    async def handle(self, request: WebSocketRequest) -> None:
        """One upgrade request (trio-websocket's handler)."""
        if trio.current_time() < self._blocked_until:
            self._refused(429)
            await request.reject(429, body=b"too many failed handshakes\n")
            return
        if any(name.lower() in _ORIGINS for name, _ in request.headers):
            self.refusals.append(Refusal(code=403, at=trio.current_time()))  # never counted:
            self._changed()  # a web page must not lock the real client out
            await request.reject(403, body=b"no browsers\n")
            return
        socket_ = await request.accept()
        try:
            nonce = secrets.token_hex(32)
            challenge = Challenge(version=PROTOCOL_VERSION, nonce=nonce)
            await socket_.send_message(encode_frame(challenge))
            code = await self._authenticate(socket_, nonce)
            if code is not None:
                self._refused(code)
                with trio.move_on_after(2, shield=True):
                    await socket_.aclose(code, _REASONS.get(code))
                return
            await self._serve(socket_)
        finally:
            with trio.move_on_after(2, shield=True):
                await socket_.aclose()

    async def _authenticate(self, socket_: WebSocketConnection, nonce: str) -> int | None:
        """None once `welcome` is sent, else the close code of the failure."""
        with trio.move_on_after(AUTH_SECONDS):
            try:
                text = await socket_.get_message()
            except ConnectionClosed as exc:
                return exc.reason.code if exc.reason is not None else 1006
            if isinstance(text, bytes):
                return CloseCode.BINARY_FRAME
            if len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
                return CloseCode.TOO_BIG
            self.auth_frames.append(text)
            return await self._check_auth(socket_, text, nonce)
        return CloseCode.AUTH_TIMEOUT

    async def _check_auth(self, socket_: WebSocketConnection, text: str, nonce: str) -> int | None:
        try:
            is_auth = json.loads(text).get("type") == "auth"
        except (ValueError, AttributeError):
            is_auth = False
        if not is_auth:
            return CloseCode.PROTOCOL_ERROR
        try:
            auth = decode_client_frame(text)
        except ProtocolError:
            return CloseCode.AUTH_FAILED
        assert isinstance(auth, Auth)
        if auth.version != PROTOCOL_VERSION:
            return CloseCode.UNSUPPORTED_VERSION
        if not mac_matches(client_mac(self.key, nonce, auth.client_nonce), auth.mac):
            return CloseCode.AUTH_FAILED
        key = bytes(32) if self.impostor else self.key
        mac = bridge_mac(key, nonce, auth.client_nonce)
        await socket_.send_message(encode_frame(Welcome(version=PROTOCOL_VERSION, mac=mac)))
        return None

    async def _serve(self, socket_: WebSocketConnection) -> None:
        """An authenticated client until it goes: status, redelivery, requests."""
        await self.drop_client(CloseCode.REPLACED, "replaced")
        outgoing, queued = trio.open_memory_channel[str](OUTGOING_FRAMES)
        client = _Client(socket=socket_, outgoing=outgoing)
        self._client = client
        self.handshakes.append(trio.current_time())
        if self.drops_after_welcome > 0:
            self.drops_after_welcome -= 1
            await self.drop_client(1011, "bridge restarting")
            return
        outgoing.send_nowait(encode_frame(Status(state=self.link_state, detail="fake bridge")))
        for message in self.pending.values():  # redelivery, oldest first
            outgoing.send_nowait(encode_frame(message))
        self._changed()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write, socket_, queued, nursery.cancel_scope)
            await self._read(client)
            nursery.cancel_scope.cancel("client gone")
        if self._client is client:
            self._client = None
            self._changed()

    async def _write(
        self,
        socket_: WebSocketConnection,
        queued: trio.MemoryReceiveChannel[str],
        scope: trio.CancelScope,
    ) -> None:
        with queued:
            async for text in queued:
                try:
                    await socket_.send_message(text)
                except ConnectionClosed:
                    break
        scope.cancel("connection closed")

    async def _read(self, client: _Client) -> None:
        while True:
            try:
                text = await client.socket.get_message()
            except ConnectionClosed:
                return
            if isinstance(text, bytes):
                await client.socket.aclose(CloseCode.BINARY_FRAME, "binary frame")
                return
            try:
                frame = decode_client_frame(text)
            except FrameTooLarge:
                await client.socket.aclose(CloseCode.TOO_BIG, "frame too large")
                return
            except UnknownFrame:
                self._answer(client, None, ErrorCode.UNKNOWN_TYPE, "unknown frame type")
                continue
            except ProtocolError as exc:
                self._answer(client, _request_id(text), ErrorCode.BAD_REQUEST, str(exc))
                continue
            if isinstance(frame, Ack):
                self._ack(frame.id)
            elif isinstance(frame, FetchMedia):
                if not await self._fetch(client, frame):
                    return
            elif isinstance(frame, Send | SendMedia):
                if not await self._request(client, frame):
                    return
            else:  # a second auth
                self._answer(client, None, ErrorCode.BAD_REQUEST, "already authenticated")

    def _ack(self, message_id: str) -> None:
        self.acks.append(message_id)
        if self.on_ack is not None:
            self.on_ack(message_id)
        if not self.ignore_acks and self.pending.pop(message_id, None) is not None:
            self.content.pop(message_id, None)
            self._save()
        self._changed()

    async def _fetch(self, client: _Client, frame: FetchMedia) -> bool:
        """Download (write) the media of a kept message and answer; False when
        a fault drops the connection. A `stall` fault downloads, then never
        answers; a `code` fault answers that error instead of downloading."""
        fault = self.fetch_faults.popleft() if self.fetch_faults else None
        if fault is not None and fault.drop:
            await self.drop_client(1011, "bridge failure")
            return False
        if fault is not None and fault.code is not None:
            self._answer(client, frame.request_id, _code(fault.code), "injected failure")
            return True
        message = self.pending.get(frame.id)
        if message is None:
            self._answer(client, frame.request_id, ErrorCode.UNKNOWN_MESSAGE, "not kept")
            return True
        media = tuple(self._download(message, m) for m in message.media)
        self.fetches.append(frame.id)
        self._changed()
        if self.on_fetch is not None:
            self.on_fetch(frame.id)
        if fault is not None and fault.stall:
            return True
        answer = FetchedMedia(request_id=frame.request_id, id=frame.id, media=media)
        client.outgoing.send_nowait(encode_frame(answer))
        return True

    def _download(self, message: BridgeMessage, media: Media) -> SavedMedia | MediaFailure:
        """Write the bytes posted with `message` into the workspace inbox (as the
        real bridge names them: one file per message and kind, replaced)."""
        data = self.content.get(message.id)
        if self.workspace is None or data is None:
            return MediaFailure(kind=media.kind, error="the media is no longer available")
        if len(data) > self.max_file_bytes:
            return MediaFailure(
                kind=media.kind, error=f"the file is more than {self.max_file_bytes} bytes"
            )
        name = inbox_name(message.chat, message.id, media.kind)
        inbox = self.workspace / "inbox"
        inbox.mkdir(mode=0o700, exist_ok=True)
        part = inbox / f".{name}.part"
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
        write_private_file(part, data)
        os.replace(part, inbox / name)
        return SavedMedia(
            kind=media.kind, path=f"inbox/{name}", mime_type=media.mime_type, size=len(data)
        )

    async def _request(self, client: _Client, frame: Send | SendMedia) -> bool:
        """Record and answer one request; False when the fault drops the connection."""
        self.requests.append(frame)
        self.request_times.append(trio.current_time())
        self._changed()
        recorded = self.outcomes.get(frame.request_id)
        if recorded is not None:  # a repeat: answered again, never sent again
            client.outgoing.send_nowait(encode_frame(recorded))
            return True
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.drop:
            await self.drop_client(1011, "bridge failure")
            return False
        if fault is not None and fault.stall:
            return True
        if fault is not None and fault.code is not None:
            self._answer(client, frame.request_id, _code(fault.code), "injected failure")
            return True
        if isinstance(frame, SendMedia):
            refusal = self._media_refusal(frame.path)
            if refusal is not None:
                self._answer(client, frame.request_id, *refusal)
                return True
        if self.link_state is not LinkState.OPEN:
            self._answer(client, frame.request_id, ErrorCode.NOT_CONNECTED, "not linked")
            return True
        self.delivered.append(frame)
        sent = Sent(request_id=frame.request_id, id=self.message_id())
        self._record(sent)
        if fault is not None and fault.drop_after_send:
            await self.drop_client(1011, "bridge failure")
            return False
        client.outgoing.send_nowait(encode_frame(sent))
        return True

    def _record(self, answer: Sent | BridgeError) -> None:
        """Remember a final answer (at most `KEEP_OUTCOMES`, persisted)."""
        assert answer.request_id is not None
        self.outcomes[answer.request_id] = answer
        while len(self.outcomes) > KEEP_OUTCOMES:
            self.outcomes.pop(next(iter(self.outcomes)))
        self._save()
        self._changed()

    def _media_refusal(self, path: str) -> tuple[ErrorCode, str] | None:
        """Why the real bridge would refuse to read `path`, if it would."""
        if self.workspace is None:
            return ErrorCode.PATH_REFUSED, "no workspace"
        root = os.path.realpath(self.workspace)
        resolved = os.path.realpath(os.path.join(root, path))
        if os.path.commonpath([root, resolved]) != root or resolved == root:
            return ErrorCode.PATH_REFUSED, "outside the workspace"
        try:
            info = os.stat(resolved)
        except OSError:
            return ErrorCode.PATH_REFUSED, "no such file"
        if not os.path.isfile(resolved):
            return ErrorCode.PATH_REFUSED, "not a regular file"
        if info.st_size > self.max_file_bytes:
            return ErrorCode.TOO_LARGE, "file too large"
        return None

    def _answer(self, client: _Client, request_id: str | None, code: ErrorCode, text: str) -> None:
        error = BridgeError(request_id=request_id, code=code, message=text)
        if code in FINAL_ERRORS:
            self._record(error)
        client.outgoing.send_nowait(encode_frame(error))


_ORIGINS = (b"origin", b"sec-websocket-origin")
_UNCOUNTED = (403, 429)  # refusals that do not count toward the rate limit
_REASONS: dict[int, str] = {
    CloseCode.AUTH_FAILED: "auth failed",
    CloseCode.AUTH_TIMEOUT: "auth timeout",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_VERSION: "unsupported version",
    CloseCode.TOO_BIG: "frame too large",
    CloseCode.BINARY_FRAME: "binary frame",
}


def _code(raw: str) -> ErrorCode:
    try:
        return ErrorCode(raw)
    except ValueError:
        return ErrorCode.OTHER


def _request_id(text: str) -> str | None:
    """The request id of a malformed request, if it has a usable one."""
    try:
        value = json.loads(text).get("request_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


_EXTENSIONS = {AttachmentKind.PHOTO: "jpg", AttachmentKind.VOICE: "ogg"}  # else "bin"


def inbox_name(chat: str, message_id: str, kind: AttachmentKind) -> str:
    """The inbox file name of a message's media, as the real bridge makes it
    (`whatsapp-<chat>-<message>-<kind>.<ext>`, parts reduced to A-Z a-z 0-9 -)."""
    chat_part = re.sub(r"[^A-Za-z0-9-]", "_", chat.split("@")[0])[:32] or "_"
    id_part = re.sub(r"[^A-Za-z0-9-]", "_", message_id)[:64] or "_"
    return f"whatsapp-{chat_part}-{id_part}-{kind.value}.{_EXTENSIONS.get(kind, 'bin')}"


UPGRADE_SECONDS = 10.0  # a Unix-socket client must send its upgrade request within this


async def _serve_stream(bridge: FakeBridge, stream: trio.SocketStream) -> None:
    """One Unix-socket connection: the upgrade request, then `bridge.handle`.
    (trio-websocket's `WebSocketServer` names its listeners by IP address,
    which a Unix socket has none of, so its connections are served here.)"""
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(UPGRADE_SECONDS):
            request = await wrap_server_stream(
                nursery,
                stream,
                message_queue_size=FRAME_QUEUE_SIZE,
                max_message_size=MAX_FRAME_BYTES,
            )
            await bridge.handle(request)
        nursery.cancel_scope.cancel("connection served")
        await stream.aclose()


async def serve_unix(
    bridge: FakeBridge,
    path: Path,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve on the Unix socket `path` (0600; a stale socket file is replaced)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    listener_socket = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await listener_socket.bind(str(path))
    os.chmod(path, 0o600)
    listener_socket.listen()
    try:
        await trio.serve_listeners(
            functools.partial(_serve_stream, bridge),
            [trio.SocketListener(listener_socket)],
            task_status=task_status,
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@asynccontextmanager
async def serve_fake_bridge(
    key: bytes,
    *,
    unix: Path | None = None,
    tcp: bool = False,
    port: int = 0,
    **settings: Any,
) -> AsyncIterator[FakeBridge]:
    """A running fake (any other `FakeBridge` field in `settings`), on the
    Unix socket `unix` and/or a loopback TCP port (`tcp`; `port`, else any
    free one: a restarted fake takes its predecessor's), until the block ends."""
    bridge = FakeBridge(key=key, **settings)
    async with trio.open_nursery() as nursery:
        if unix is not None:
            await nursery.start(serve_unix, bridge, unix)
            bridge.endpoints.append(UnixEndpoint(unix))
        if tcp or unix is None:
            server = await nursery.start(
                lambda task_status: serve_websocket(
                    bridge.handle,
                    "127.0.0.1",
                    port,
                    None,
                    message_queue_size=FRAME_QUEUE_SIZE,
                    max_message_size=MAX_FRAME_BYTES,
                    task_status=task_status,
                )
            )
            url = f"ws://127.0.0.1:{server.port}"
            bridge.endpoints.append(
                UrlEndpoint(url=url, host="127.0.0.1", port=server.port, tls=False)
            )
        yield bridge
        nursery.cancel_scope.cancel("fake bridge closed")
