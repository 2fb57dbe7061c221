"""The Zulip channel actor: an event queue in, plain Markdown replies out.

One incarnation (built per start by the channel supervisor):

1. `GET /users/me` (the bot's id, email and name, for loop prevention and
   mentions) and the event queue (`queue.EventQueue`: the saved one, or a
   newly registered one): the channel reports started only then. Rejected
   credentials (401) stop the channel for good: `/healthz` says why, replies
   are dropped with a log line, and nothing is retried until the operator
   fixes them.
2. Messages still in the inbound journal without a delivered reply (a
   crash, `kill -9`) go to the router again.
3. Polling: each batch of events is parsed (`events.parse_event`: the bot's
   own messages are dropped there), judged, and every allowed message of the
   batch is journaled (one fsync) *before* the batch is acknowledged to
   Zulip; then it goes to the router. Direct messages are judged by the
   gate (allow_from by user id or email, pairing); a stream message only
   when it mentions the bot, in a stream listed in `streams` (a mention in
   any other stream is an ACCESS DENIED), and its sender must pass the same
   check; group direct messages are not answered. A refused direct message
   gets the gate's reply (a denial naming the sender's id, or a pairing
   code) as a direct message. The uploads an allowed message links to are
   saved to `workspace/inbox/`. Network trouble (connection errors,
   timeouts, 5xx, 429) marks the channel down and waits: a 429's
   `retry-after`, else jittered exponential backoff; the actor never gives
   up, and never hot-loops.
4. Sending (a task of its own reading this channel's outbound mailbox): a
   direct conversation's replies go to the sender, a stream conversation's
   to its stream and topic (`places.destination`); the text is rendered by
   `render.prepare_reply` (nobody can be pinged, code fences balanced,
   chunks of at most the server's `max_message_length`), 429 `retry-after`
   honoured, network failures retried a bounded number of times then an
   ERROR naming the chat; a refusal is logged once and not retried. Files
   a reply attaches (once its text is delivered) are uploaded
   (`outbound_files.FileUploader`: read from the workspace with check and
   use in one step, at most the server's `max_file_upload_size_mib`, each
   upload tried once, a 429 waited out a few times), then linked in one
   more message to the same place, `[name](/user_uploads/...)` per file;
   a file that cannot be sent is a WARN and a sentence to the chat, never
   fatal. A delivered final reply marks its journal entries done.

On a graceful stop it stops polling and keeps sending until its mailbox is
empty (the supervisor's grace bounds that). The event queue is kept (not
deleted), so the next start resumes it.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio

from autobot.channels.access import Action, Chat, Sender
from autobot.channels.base import Attachment, InboundMessage, OutboundMessage
from autobot.channels.gate import ChannelGate
from autobot.channels.inbound_journal import Arrival
from autobot.channels.reply_pump import ReplyPump
from autobot.channels.spec import ChannelEnv
from autobot.channels.stopped import drain_stopped
from autobot.channels.zulip.api import (
    BotIdentity,
    RateLimited,
    Unauthorized,
    ZulipApi,
    ZulipError,
    is_transient,
)
from autobot.channels.zulip.events import ZulipMessage, parse_event
from autobot.channels.zulip.outbound_files import UploadFiles, links_text, not_sent_text
from autobot.channels.zulip.places import (
    DirectTarget,
    StreamTarget,
    destination,
    direct_chat_id,
    stream_chat_id,
)
from autobot.channels.zulip.queue import EventQueue
from autobot.channels.zulip.render import prepare_reply
from autobot.logs.records import Logger
from autobot.runtime import backoff_delay

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
SEND_ATTEMPTS = 5
RETRY_AFTER_CAP = 300.0  # a 429's retry-after is obeyed up to this many seconds
CREDENTIALS_REFUSED = (
    "the Zulip server refused the bot's credentials (401): check channels.zulip.email"
    " and ZULIP_API_KEY in .env"
)


class ChannelStopped(Exception):
    """The channel cannot work until the operator changes something (refused credentials)."""


@attrs.define(kw_only=True, eq=False)
class ZulipChannel:
    """One incarnation of the Zulip channel (see the module docstring).

    `api` talks to the server, `queue` is the bot's event queue, `gate` the
    shared inbound path (access, journal, router); `streams` are the
    case-folded names of the streams where a mention is answered;
    `save_uploads` stores a message's uploads in the workspace and returns
    its attachments; `upload_files` uploads a reply's attachments from the
    workspace (`outbound_files.FileUploader`).
    """

    env: ChannelEnv
    api: ZulipApi
    queue: EventQueue
    gate: ChannelGate
    streams: frozenset[str]
    save_uploads: Callable[[ZulipMessage], Awaitable[Sequence[Attachment]]]
    upload_files: UploadFiles
    rng: random.Random = attrs.field(factory=random.Random)
    _bot: BotIdentity | None = attrs.field(init=False, default=None)
    _polling: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)
    _replies: ReplyPump = attrs.field(init=False, factory=ReplyPump)

    @property
    def _log(self) -> Logger:
        return self.env.logger

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router:
            try:
                self._bot = await self._connect()
            except ChannelStopped as stopped:
                await drain_stopped(self.env, str(stopped), task_status)
                return
            # Started before the replay: the router starts after the channels,
            # and a replay larger than its mailbox would wait for it forever.
            task_status.started()
            self._log.info("zulip channel ready", bot=self._bot.email, user_id=self._bot.user_id)
            async with trio.open_nursery() as loops:
                loops.start_soon(self._watch_stopping)
                loops.start_soon(self._receive_events)
                loops.start_soon(self._send_loop)

    # ---- connecting -----------------------------------------------------------------

    async def _connect(self) -> BotIdentity:
        """`users/me` and the event queue (the saved one, or a new one),
        retried with backoff until they work (or 401)."""
        attempt = 0
        while True:
            try:
                bot = await self.api.get_me()
                await self.queue.open()
            except Unauthorized as exc:
                raise ChannelStopped(f"{CREDENTIALS_REFUSED} ({exc.code or exc.msg})") from exc
            except ZulipError as exc:
                if not is_transient(exc):
                    raise
                await self._cool_down(exc, attempt)
                attempt += 1
                continue
            self.env.health.mark_up(trio.current_time())
            return bot

    async def _cool_down(self, exc: ZulipError, attempt: int) -> None:
        """Mark the channel down and wait: a 429's retry-after, else jittered
        exponential backoff."""
        self.env.health.mark_down(trio.current_time(), str(exc))
        self.env.health.reconnects += 1
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = min(exc.retry_after, RETRY_AFTER_CAP)
            self._log.warn(f"zulip rate limit hit; retrying in {delay:g} s", error=str(exc))
        else:
            delay = backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng)
            self._log.warn(f"zulip unreachable; retrying in {delay:.1f} s", error=str(exc))
        await trio.sleep(delay)

    # ---- receiving ------------------------------------------------------------------

    async def _watch_stopping(self) -> None:
        """On a graceful stop: stop polling now, and sending once the mailbox is empty."""
        await self.env.stopping.wait()
        self._polling.cancel("zulip channel asked to stop")
        self._replies.stop("zulip channel asked to stop")

    async def _receive_events(self) -> None:
        """Replayed messages first, then new ones, until a graceful stop cancels `_polling`."""
        with self._polling:
            pending = self.gate.pending
            if pending:
                self._log.warn("replaying unanswered zulip messages", count=len(pending))
            for entry in pending:
                await self.env.router.send(entry.message)
            await self._poll_until_stopping()

    async def _poll_until_stopping(self) -> None:
        attempt = 0
        while True:
            try:
                events = await self.queue.poll()
                self.env.health.mark_up(trio.current_time())
                if events:
                    # a transient failure in here (an upload download) leaves the
                    # acknowledgement alone: the whole batch comes again
                    await self._receive(events)
                    await self.queue.acknowledge(max(event["id"] for event in events))
            except Unauthorized as exc:
                self.env.health.mark_stopped(trio.current_time(), f"{CREDENTIALS_REFUSED} ({exc})")
                self._log.error("zulip channel stopped: the bot's credentials were refused (401)")
                await trio.sleep_forever()
            except ZulipError as exc:
                if not is_transient(exc):
                    raise
                await self._cool_down(exc, attempt)
                attempt += 1
                continue
            attempt = 0

    async def _receive(self, events: list[dict[str, Any]]) -> None:
        """One batch: judge, journal (one fsync), then dispatch."""
        assert self._bot is not None
        arrivals: list[Arrival] = []
        for event in events:
            message = parse_event(event, self._bot)
            if message is not None:
                arrival = await self._judge(message)
                if arrival is not None:
                    arrivals.append(arrival)
        entries = await self.gate.accept(arrivals)
        await self.gate.dispatch(entries)

    async def _judge(self, message: ZulipMessage) -> Arrival | None:
        """The arrival to journal for `message`, or None when it is not for
        the bot, refused (answered if it was a direct message), or ignored."""
        if message.others:
            self._log.info(
                "zulip group direct message not answered",
                message_id=message.message_id,
                sender_id=message.sender_id,
            )
            return None
        if message.stream_id is None:
            chat = Chat(id=direct_chat_id(message.sender_id))
        else:
            assert message.topic is not None  # every stream message has one
            if not message.mentioned:
                return None  # not meant for the bot
            if (message.stream_name or "").casefold() not in self.streams:
                self._deny(message, f"stream {message.stream_id} is not in channels.zulip.streams")
                return None
            chat_id = stream_chat_id(message.stream_id, message.topic)
            chat = Chat(id=chat_id, is_group=True, addressed=True)
        sender = Sender(id=str(message.sender_id), email=message.sender_email)
        decision = await self.gate.check(sender, chat)
        if decision.action in (Action.REPLY_DENIED, Action.REPLY_PAIRING):
            await self._send_text(DirectTarget(message.sender_id), decision.text)
            return None
        if decision.action is not Action.ALLOW:
            return None
        attachments = await self.save_uploads(message)
        inbound = InboundMessage(
            channel=self.env.name,
            chat_id=chat.id,
            content=message.content,
            sender_id=sender.id,
            sender_name=message.sender_name,
            message_id=str(message.message_id),
            thread_id=message.topic,
            is_group=chat.is_group,
            addressed=message.mentioned,
            attachments=tuple(attachments),
        )
        return Arrival(message=inbound, dedup_keys=message.dedup_keys)

    def _deny(self, message: ZulipMessage, reason: str) -> None:
        """A refusal the gate does not see (a mention in an unlisted stream):
        counted and logged as the gate logs its own."""
        self.env.health.denied += 1
        self._log.warn(
            "ACCESS DENIED",
            channel=self.env.name,
            sender_id=str(message.sender_id),
            reason=reason,
            stream=message.stream_name,
        )

    # ---- sending --------------------------------------------------------------------

    async def _send_loop(self) -> None:
        """Deliver replies as they come; once stopping, those already queued, then end."""
        await self._replies.run(self.env.outbox, self.env.stopping, self._deliver)

    async def _deliver(self, message: OutboundMessage) -> None:
        """Send `message`; a final reply then completes its journal entries, also
        when Zulip refused it for good (retrying after a restart would only run
        the turn again for the same refusal). After a network failure that
        outlasted the retries the entries stay, so a restart answers them."""
        failure: ZulipError | None = None
        try:
            target = destination(message.chat_id, message.thread_id)
        except ValueError as exc:
            self.env.health.send_failures += 1
            self._log.error("zulip message not delivered", chat_id=message.chat_id, error=str(exc))
        else:
            failure = await self._send_text(target, message.content)
            if failure is None and message.attachments:
                await self._send_files(target, message)
        if message.final and (failure is None or not is_transient(failure)):
            await self.gate.delivered(message)

    async def _send_files(
        self, target: DirectTarget | StreamTarget, message: OutboundMessage
    ) -> None:
        """Upload `message.attachments`, then link them in one message to
        `target` and name those left out (best effort: a failure to send
        these is logged by `_send_text` and leaves the reply's completion alone)."""
        outcome = await self.upload_files(
            message.attachments,
            max_upload_mib=self.queue.max_upload_mib,
            chat_id=message.chat_id,
        )
        if outcome.uploaded:
            await self._send_text(target, links_text(outcome.uploaded))
        if outcome.not_sent:
            await self._send_text(target, not_sent_text(outcome.not_sent))

    async def _send_text(self, target: DirectTarget | StreamTarget, text: str) -> ZulipError | None:
        """`text` as one or more messages to `target`; the failure that stopped it (logged)."""
        for chunk in prepare_reply(text, self.queue.max_message_length):
            if isinstance(target, DirectTarget):
                send = functools.partial(self.api.send_private, [target.user_id], chunk)
            else:
                send = functools.partial(
                    self.api.send_stream, target.stream_id, target.topic, chunk
                )
            failure = await self._with_retries(send)
            if failure is not None:
                self.env.health.send_failures += 1
                self._log.error(
                    "zulip message not delivered", target=str(target), error=str(failure)
                )
                return failure
        return None

    async def _with_retries(self, call: Callable[[], Awaitable[object]]) -> ZulipError | None:
        """`call` until it works (None) or fails for good (the error): transient
        failures are retried `SEND_ATTEMPTS` times, after a 429's retry-after
        or a jittered backoff."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                await call()
                return None
            except ZulipError as exc:
                if not is_transient(exc) or attempt == SEND_ATTEMPTS - 1:
                    return exc
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    await trio.sleep(min(exc.retry_after, RETRY_AFTER_CAP))
                else:
                    await trio.sleep(backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng))
        raise AssertionError("unreachable: the last attempt returns")
