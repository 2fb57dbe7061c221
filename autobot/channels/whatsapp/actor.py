"""The WhatsApp channel actor: a client of the bridge, messages in, replies out.

One incarnation (built per start by the channel supervisor) runs these tasks:

1. The link: messages still in the inbound journal without a delivered
   reply (a crash, `kill -9`) go to the router again; then connect to the
   bridge and authenticate (`client.connect_bridge`, bounded by
   `CONNECT_SECONDS`) and read its frames until the connection ends, forever:
   each failure marks the channel down and waits a jittered exponential
   backoff (reset after `HEALTHY_SECONDS` connected). A bridge that refuses
   our proof, cannot prove its own, or serves another client instead waits
   longer and is logged as an error naming the cause. `status` frames set
   the health: up only while WhatsApp is `open`; "waiting for the phone to
   link" while the bridge shows a QR code (logged with where its PNG is,
   never the payload); `logged_out` stops the channel.
2. Inbound (fed by the link through `INBOUND_QUEUE_SIZE`): each `message`
   frame is checked (`inbound.incoming`) and judged by the gate (access,
   pairing, groups by mention). Refused and malformed messages are
   acknowledged at once, their media never downloaded (the bridge forgets
   them); a refused sender's reply goes through the notice queue. For an
   allowed message with media the bridge is asked to download them now
   (`fetch_media`, answered within `FETCH_SECONDS`): the files arrive as
   attachments, a media the bridge could not save as a note the model reads
   (a WARN too), and a fetch that fails altogether (an `error`, no answer)
   leaves a note for each media: the text is never lost. If the connection
   drops meanwhile the message is left alone: the bridge delivers it again
   and it is fetched again (into the same file). Then it is journaled
   (fsync) and only then acknowledged to the bridge (which keeps it until
   then and delivers it again after a reconnect or a restart), then handed
   to the router. A message the journal already holds (pending or answered)
   is acknowledged again, never fetched or handed on twice. While the queue
   is full the link takes no more messages (they stay unacknowledged) and,
   once the queue is drained, reconnects so the bridge delivers them again:
   reading never stops, so the answer to a fetch always gets through.
3. Sending (this channel's outbound mailbox): each reply's Markdown is
   written in WhatsApp's markup and cut into chunks of at most `CHUNK_UNITS`
   UTF-16 units (`render.whatsapp_chunks`; the channel's own notices stay
   plain text, `plain_chunks`), each a `send`
   request answered by `sent` or `error` within `ANSWER_SECONDS`; attached
   workspace files follow as `send_media`. Transient failures (no
   connection, `not_connected`, `send_failed`, `busy`, no answer) are retried
   `SEND_ATTEMPTS` times with backoff, then logged as an ERROR naming the
   chat; a refusal (`path_refused`, `too_large`, `bad_request`) is logged
   once. Every attempt of a request, across reconnects, carries the same
   request id, and the bridge answers a repeated id with the outcome it
   recorded without sending again: a reply whose `sent` was lost with the
   connection goes out once. A final reply completes its journal entries
   once delivered or refused for good; after a transient failure that
   outlasted the retries they stay, so a restart answers them.
4. The managed bridge process (`bridge_process.ManagedBridge`), when the
   gateway runs it: its end for good (logged out, configuration refused)
   stops the channel.

A stopped channel (logged out, another protocol version, a refused bridge
configuration) says why in the log and `/healthz` and drops replies with a
WARN (`drain_stopped`) until the gateway stops. On a graceful stop no new
message is taken (the bridge keeps it for next time) and sending goes on
until the mailbox is empty (the supervisor's grace bounds that).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import attrs
import trio
from trio_websocket import ConnectionRejected, HandshakeError

from autobot.channels.access import Action
from autobot.channels.base import Attachment, InboundKind, InboundMessage, OutboundMessage
from autobot.channels.gate import ChannelGate
from autobot.channels.reply_pump import ReplyPump
from autobot.channels.spec import ChannelEnv
from autobot.channels.stopped import drain_stopped
from autobot.channels.telegram.chunks import plain_chunks
from autobot.channels.whatsapp.bridge_requests import Answer, BridgeRequests, RequestLost
from autobot.channels.whatsapp.client import (
    BridgeConnection,
    BridgeImpostor,
    BridgeIncompatible,
    BridgeRejected,
    BridgeReplaced,
    BridgeUnavailable,
)
from autobot.channels.whatsapp.inbound import incoming, with_media
from autobot.channels.whatsapp.protocol import (
    Ack,
    BridgeError,
    BridgeFrame,
    BridgeMessage,
    ErrorCode,
    FetchedMedia,
    FetchMedia,
    LinkState,
    MediaFailure,
    ProtocolError,
    Qr,
    SavedMedia,
    Send,
    SendMedia,
    Sent,
    Status,
)
from autobot.channels.whatsapp.render import whatsapp_chunks
from autobot.logs.records import Logger
from autobot.runtime import attempt_after, backoff_delay

CONNECT_SECONDS = 15.0  # connect + handshake; the bridge itself gives 5 s to answer
HEALTHY_SECONDS = 60.0  # connected this long: the next failure backs off from the start
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
REFUSED_BASE = 15.0  # secrets differ, an impostor, another client: a retry soon fails again
REFUSED_CAP = 300.0
ANSWER_SECONDS = 30.0  # for a request's `sent` / `error` (a media upload takes a while)
FETCH_SECONDS = 150.0  # for a `media` answer: the bridge gives a download 120 s
SEND_ATTEMPTS = 5
SEND_BACKOFF_BASE = 1.0
SEND_BACKOFF_CAP = 30.0
CHUNK_UNITS = 4096  # per message: readable on a phone, far under the bridge's 65,536
# Message frames read from the bridge but not yet journaled; when full the
# link takes no more (the bridge keeps them) and reconnects once it drained.
INBOUND_QUEUE_SIZE = 64
# Replies to refused senders (at most one per sender per hour); beyond this
# many waiting, more are dropped with a WARN (they are courtesy, not duty).
NOTICE_QUEUE_SIZE = 64
TRANSIENT_CODES = frozenset({ErrorCode.NOT_CONNECTED, ErrorCode.SEND_FAILED, ErrorCode.BUSY})
RESET_COMMAND = "/reset"

Connect = Callable[[trio.Nursery], Awaitable[BridgeConnection]]


class ChannelStopped(Exception):
    """The channel cannot work until the operator changes something."""


@attrs.frozen
class SendFailure:
    """Why a message was not delivered; `permanent`: retrying cannot help."""

    reason: str
    permanent: bool


class BridgeRun(Protocol):
    """What the actor needs of a managed bridge process: `run` restarts it
    when it dies and returns why it stopped for good."""

    async def run(self) -> str: ...


@attrs.define(kw_only=True, eq=False)
class WhatsAppChannel:
    """One incarnation of the WhatsApp channel (see the module docstring).

    `connect` opens an authenticated bridge connection whose reader runs in
    the given nursery (`client.connect_bridge` with the endpoint and key);
    `bridge` is the managed bridge process, None for an external one.
    """

    env: ChannelEnv
    gate: ChannelGate
    connect: Connect
    bridge: BridgeRun | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    _requests: BridgeRequests = attrs.field(init=False, factory=BridgeRequests)
    _state: LinkState | None = attrs.field(init=False, default=None)
    _replies: ReplyPump = attrs.field(init=False, factory=ReplyPump)
    _reading: trio.CancelScope | None = attrs.field(init=False, default=None)
    _behind: bool = attrs.field(init=False, default=False)  # messages left to a reconnect
    _frames: tuple[
        trio.MemorySendChannel[BridgeMessage], trio.MemoryReceiveChannel[BridgeMessage]
    ] = attrs.field(
        init=False, factory=lambda: trio.open_memory_channel[BridgeMessage](INBOUND_QUEUE_SIZE)
    )
    _notices: tuple[
        trio.MemorySendChannel[tuple[str, str]], trio.MemoryReceiveChannel[tuple[str, str]]
    ] = attrs.field(
        init=False, factory=lambda: trio.open_memory_channel[tuple[str, str]](NOTICE_QUEUE_SIZE)
    )

    @property
    def _log(self) -> Logger:
        return self.env.logger

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router, self._frames[0], self._notices[0]:
            stopped: list[str] = []
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_stopping)
                    nursery.start_soon(self._link_loop)
                    nursery.start_soon(self._inbound_loop)
                    nursery.start_soon(self._notice_loop)
                    if self.bridge is not None:
                        nursery.start_soon(self._run_bridge, self.bridge)
                    # Started before the replay: the router starts after the channels.
                    task_status.started()
                    self._log.info("whatsapp channel ready")
                    await self._send_loop()
                    nursery.cancel_scope.cancel("whatsapp channel stopped")
            except* ChannelStopped as group:
                stopped.append(str(_first(group, ChannelStopped)))
            if stopped:
                await drain_stopped(self.env, stopped[0], trio.TASK_STATUS_IGNORED)

    async def _watch_stopping(self) -> None:
        """On a graceful stop: stop sending once the mailbox is empty."""
        await self.env.stopping.wait()
        self._replies.stop("whatsapp channel asked to stop")

    async def _run_bridge(self, bridge: BridgeRun) -> None:
        raise ChannelStopped(await bridge.run())

    # ---- the link -------------------------------------------------------------------

    async def _link_loop(self) -> None:
        """Replay, then stay connected (see the module docstring)."""
        pending = self.gate.pending
        if pending:
            self._log.warn("replaying unanswered whatsapp messages", count=len(pending))
        for entry in pending:
            await self.env.router.send(entry.message)
        attempt = 0
        while True:
            began = trio.current_time()
            trouble = await self._connected_session()
            attempt = attempt_after(attempt, trio.current_time() - began, HEALTHY_SECONDS)
            if trouble is None:  # renewed on purpose: connect again at once
                continue
            await self._cool_down(trouble, attempt)
            attempt += 1

    async def _connected_session(self) -> BridgeUnavailable | None:
        """One connection, from connecting to its end: why it ended (None:
        `_renew` ended it)."""
        trouble: list[BridgeUnavailable] = []
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(CONNECT_SECONDS):
                    link = await self.connect(nursery)
                try:
                    self._linked(link)
                    with trio.CancelScope() as self._reading:
                        await self._read(link)
                finally:
                    self._reading = None
                    self._unlinked()
                    await link.close()
                nursery.cancel_scope.cancel("whatsapp bridge connection renewed")
            return None
        except* BridgeIncompatible as group:
            raise ChannelStopped(str(_first(group, BridgeIncompatible))) from None
        except* BridgeUnavailable as group:
            trouble.append(_first(group, BridgeUnavailable))
        except* ConnectionRejected as group:
            trouble.append(_rejected(_first(group, ConnectionRejected)))
        except* (HandshakeError, trio.TooSlowError):
            trouble.append(BridgeUnavailable("the bridge did not complete the handshake in time"))
        return trouble[0]

    def _linked(self, link: BridgeConnection) -> None:
        self._requests.linked(link)
        self._state = None
        self._behind = False  # the bridge delivers every unacknowledged message again
        self._log.info("whatsapp bridge connected")

    def _unlinked(self) -> None:
        """The connection is gone: every request waiting for an answer fails."""
        self._requests.unlinked()

    def _renew(self) -> None:
        """End the connection (the link connects again at once), so the bridge
        delivers again the messages it sent while the queue was full."""
        if self._reading is not None:
            self._log.info("whatsapp: reconnecting to take the messages the queue could not hold")
            self._reading.cancel("whatsapp messages left to a reconnect")

    async def _read(self, link: BridgeConnection) -> None:
        """Frames until the connection ends (raises BridgeUnavailable then)."""
        while True:
            try:
                frame = await link.receive()
            except ProtocolError as exc:  # the bridge's bug: skip the frame, keep the link
                self._log.warn("whatsapp bridge sent an unusable frame", error=str(exc))
                continue
            self._handle(frame)

    def _handle(self, frame: BridgeFrame) -> None:
        if isinstance(frame, BridgeMessage):
            self._take(frame)
        elif isinstance(frame, Sent | FetchedMedia | BridgeError) and frame.request_id is not None:
            self._requests.answered(frame)
        elif isinstance(frame, BridgeError):
            self._log.warn("whatsapp bridge error", code=frame.code.value, error=frame.message)
        elif isinstance(frame, Status):
            self._status(frame)
        elif isinstance(frame, Qr):
            self.env.health.mark_down(trio.current_time(), _waiting_for_phone(frame.png))
            self._log.info(
                "whatsapp: scan the QR code the bridge printed on the gateway's terminal "
                "(WhatsApp > Linked devices > Link a device)",
                png=frame.png or "none",
            )
        else:
            self._log.warn("whatsapp bridge repeated a handshake frame", frame=type(frame).__name__)

    def _take(self, frame: BridgeMessage) -> None:
        """Queue `frame` for the inbound loop, unless the channel is stopping,
        the queue is full, or messages were left since it was (the bridge keeps
        them all, unacknowledged: `_renew` has them delivered again, in order)."""
        if self.env.stopping.is_set() or self._behind:
            return
        try:
            self._frames[0].send_nowait(frame)
        except trio.WouldBlock:
            self._behind = True

    def _status(self, status: Status) -> None:
        now = trio.current_time()
        health = self.env.health
        detail = status.detail[:200]
        if status.state is LinkState.LOGGED_OUT:
            raise ChannelStopped(
                "WhatsApp logged this bot out (the phone unlinked it): link it again "
                "(the managed bridge: delete state/whatsapp-auth and restart the gateway, "
                "then scan the new QR code)"
            )
        if status.state is LinkState.OPEN:
            health.mark_up(now)
        elif status.state is LinkState.QR:
            health.mark_down(now, _waiting_for_phone(None))
        else:
            health.mark_down(now, f"WhatsApp {status.state.value}: {detail}")
        if status.state is not self._state:
            self._state = status.state
            self._log.info(f"whatsapp is {status.state.value}", detail=detail)

    async def _cool_down(self, trouble: BridgeUnavailable, attempt: int) -> None:
        """Mark the channel down and wait before the next connection."""
        self.env.health.mark_down(trio.current_time(), f"bridge: {trouble}")
        self.env.health.reconnects += 1
        if isinstance(trouble, BridgeRejected | BridgeImpostor | BridgeReplaced):
            delay = REFUSED_BASE + backoff_delay(attempt, REFUSED_BASE, REFUSED_CAP, self.rng)
            self._log.error(f"whatsapp: {trouble}; retrying in {delay:.0f} s")
        else:
            delay = backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng)
            self._log.warn(
                f"whatsapp bridge unreachable; retrying in {delay:.1f} s", error=str(trouble)
            )
        await trio.sleep(delay)

    # ---- inbound --------------------------------------------------------------------

    async def _inbound_loop(self) -> None:
        async for frame in self._frames[1]:
            await self._receive(frame)
            if self._behind and self._frames[1].statistics().current_buffer_used == 0:
                self._behind = False
                self._renew()

    async def _receive(self, frame: BridgeMessage) -> None:
        """Judge, fetch, journal, acknowledge, hand over (see the module docstring)."""
        try:
            message = incoming(frame, self.env.name)
        except ProtocolError as exc:
            self._log.warn("whatsapp message dropped: malformed", error=str(exc))
            await self._ack(frame.id)
            return
        decision = await self.gate.check(message.sender, message.chat)
        if decision.action in (Action.REPLY_DENIED, Action.REPLY_PAIRING):
            self._notify(message.chat.id, decision.text)
        if decision.action is not Action.ALLOW:  # never downloaded: the bridge forgets it
            await self._ack(frame.id)
            return
        if frame.text.strip().lower() == RESET_COMMAND:
            await self._reset(message.arrival.message)
            await self._ack(frame.id)
            return
        arrival = message.arrival
        if frame.media:
            if await self.gate.journaled(arrival):  # delivered again: nothing to fetch
                await self._ack(frame.id)
                return
            try:
                fetched = await self._fetch(frame)
            except RequestLost:
                self._log.info(
                    "whatsapp message left for redelivery: the bridge connection ended "
                    "before its media were fetched",
                    message_id=frame.id,
                )
                return
            arrival, failures = with_media(arrival, fetched)
            for failure in failures:
                self._log.warn(
                    "whatsapp media not saved",
                    chat_id=frame.chat,
                    message_id=frame.id,
                    kind=failure.kind.value,
                    reason=failure.error[:200],
                )
        entries = await self.gate.accept([arrival])  # fsync: durable from here
        await self._ack(frame.id)
        await self.gate.dispatch(entries)

    async def _fetch(self, frame: BridgeMessage) -> tuple[SavedMedia | MediaFailure, ...]:
        """The media of `frame`, downloaded by the bridge now: what it saved or
        not, or (a fetch that failed altogether) a failure for each media.
        Raises RequestLost when there is no connection or it ends meanwhile."""
        link = self._requests.link.value
        if link is None:
            raise RequestLost("no bridge connection")
        reason = f"the bridge did not answer within {FETCH_SECONDS:.0f} s"
        with trio.move_on_after(FETCH_SECONDS):
            answer = await self._requests.ask(
                link, FetchMedia(request_id=self._requests.new_id(), id=frame.id)
            )
            if isinstance(answer, FetchedMedia) and answer.id == frame.id:
                return answer.media
            if isinstance(answer, BridgeError):
                reason = f"the bridge refused ({answer.raw_code or answer.code.value})"
            else:
                reason = "the bridge answered for another message"
        return tuple(MediaFailure(kind=media.kind, error=reason) for media in frame.media)

    async def _reset(self, message: InboundMessage) -> None:
        reset = attrs.evolve(message, content="", kind=InboundKind.RESET, attachments=())
        await self.env.router.send(reset)
        self._notify(message.chat_id, "Started a new conversation (the previous one is archived).")

    async def _ack(self, message_id: str) -> None:
        """Tell the bridge it may forget `message_id`. Without a connection
        nothing is lost: it delivers the message again, and the journal
        recognises it."""
        link = self._requests.link.value
        if link is None:
            return
        try:
            await link.send(Ack(id=message_id))
        except (BridgeUnavailable, BridgeIncompatible, ProtocolError):
            pass

    def _notify(self, chat_id: str, text: str) -> None:
        try:
            self._notices[0].send_nowait((chat_id, text))
        except trio.WouldBlock:
            self._log.warn("whatsapp notice dropped: too many waiting", chat_id=chat_id)

    async def _notice_loop(self) -> None:
        async for chat_id, text in self._notices[1]:
            for part in plain_chunks(text, CHUNK_UNITS):
                await self._send_with_retries(chat_id, _text(chat_id, part, None))

    # ---- sending --------------------------------------------------------------------

    async def _send_loop(self) -> None:
        """Deliver replies as they come; once stopping, those already queued, then end."""
        await self._replies.run(self.env.outbox, self.env.stopping, self._deliver)

    async def _deliver(self, message: OutboundMessage) -> None:
        """Text chunks, then attachments (see the module docstring)."""
        failure: SendFailure | None = None
        for index, chunk in enumerate(whatsapp_chunks(message.content, CHUNK_UNITS)):
            reply_to = message.reply_to_id if index == 0 else None
            failure = await self._send_with_retries(
                message.chat_id, _text(message.chat_id, chunk, reply_to)
            )
            if failure is not None:
                break
        for attachment in message.attachments if failure is None else ():
            failure = await self._send_with_retries(
                message.chat_id, _media(message.chat_id, attachment)
            )
            if failure is not None and not failure.permanent:
                break  # the bridge is gone: the next ones would fail the same way
        if message.final and (failure is None or failure.permanent):
            await self.gate.delivered(message)

    async def _send_with_retries(
        self, chat_id: str, build: Callable[[str], Send | SendMedia]
    ) -> SendFailure | None:
        """One request until answered `sent` (None) or given up (the failure,
        logged). Every attempt carries the same request id."""
        try:
            frame = build(self._requests.new_id())
        except ProtocolError as exc:  # not sendable at all (a chat that is no JID)
            return self._give_up(chat_id, SendFailure(f"cannot be sent: {exc}", permanent=True))
        for attempt in range(SEND_ATTEMPTS):
            failure = await self._attempt(frame)
            if failure is None:
                return None
            if failure.permanent or attempt == SEND_ATTEMPTS - 1:
                return self._give_up(chat_id, failure)
            await trio.sleep(backoff_delay(attempt, SEND_BACKOFF_BASE, SEND_BACKOFF_CAP, self.rng))
        raise AssertionError("unreachable: the last attempt returns")

    def _give_up(self, chat_id: str, failure: SendFailure) -> SendFailure:
        """Count and log a message that will not be delivered (once)."""
        self.env.health.send_failures += 1
        self._log.error("whatsapp message not delivered", chat_id=chat_id, error=failure.reason)
        return failure

    async def _attempt(self, frame: Send | SendMedia) -> SendFailure | None:
        try:
            answer = await self._request(frame)
        except RequestLost as exc:
            return SendFailure(str(exc), permanent=False)
        if isinstance(answer, Sent):
            return None
        if not isinstance(answer, BridgeError):
            return SendFailure("the bridge answered with a media frame", permanent=True)
        permanent = answer.code not in TRANSIENT_CODES
        code = answer.raw_code or answer.code.value
        return SendFailure(f"bridge error {code}: {answer.message[:200]}", permanent=permanent)

    async def _request(self, frame: Send | SendMedia) -> Answer:
        """Send `frame` and wait for its answer, at most `ANSWER_SECONDS` in
        all (waiting for a connection included). Raises RequestLost."""
        with trio.move_on_after(ANSWER_SECONDS):
            link = await self._requests.link.wait_value(lambda value: value is not None)
            assert link is not None
            return await self._requests.ask(link, frame)
        raise RequestLost(f"no answer from the bridge within {ANSWER_SECONDS:.0f} s")


def _text(chat_id: str, text: str, reply_to: str | None) -> Callable[[str], Send | SendMedia]:
    """The `send` request of `text` to `chat_id`, given its request id."""
    return lambda request_id: Send(request_id=request_id, to=chat_id, text=text, reply_to=reply_to)


def _media(chat_id: str, attachment: Attachment) -> Callable[[str], Send | SendMedia]:
    """The `send_media` request of a workspace file, given its request id."""
    return lambda request_id: SendMedia(
        request_id=request_id, to=chat_id, path=attachment.path, kind=attachment.kind
    )


_E = TypeVar("_E", bound=BaseException)


def _first(group: BaseExceptionGroup[BaseException], kind: type[_E]) -> _E:
    """The first `kind` in `group`, however deeply nested (`except*` matched one)."""
    found: BaseException | None = group.subgroup(kind)
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    if not isinstance(found, kind):
        raise AssertionError("except* matched no exception of the kind")
    return found


def _rejected(exc: ConnectionRejected) -> BridgeUnavailable:
    """The bridge refused the WebSocket upgrade itself."""
    if exc.status_code == 429:
        return BridgeRejected(
            "the bridge refuses connections for a minute after repeated failed handshakes (429)"
        )
    return BridgeRejected(f"the bridge refused the connection (HTTP {exc.status_code})")


def _waiting_for_phone(png: str | None) -> str:
    where = f" (also saved as {png})" if png else ""
    return (
        "waiting for the phone to link: scan the QR code the bridge printed on the "
        f"gateway's terminal{where}"
    )
