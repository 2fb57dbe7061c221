"""The Telegram channel actor: long polling in, formatted replies out.

One incarnation (built per start by the channel supervisor):

1. `getMe` (the bot's id and username, for mentions); a rejected token (401)
   stops the channel for good: `/healthz` says why, replies are dropped with
   a log line, and nothing is retried until the operator fixes the token.
   `deleteWebhook` (pending updates kept), so polling works.
2. Messages still in the inbound journal without a delivered reply (a crash,
   `kill -9`) go to the router again.
3. Polling: `getUpdates` with the next offset, `timeout` and
   `allowed_updates` on every call. Each update is parsed, judged by the
   gate (access, pairing, groups), commands are answered, media saved to
   `workspace/inbox/`, and every allowed message of the batch is journaled
   (one fsync) *before* the next `getUpdates` confirms the batch; then it
   goes to the router and a typing indicator runs until its reply is sent.
   Network trouble (connection errors, timeouts, 5xx, 429, 409) marks the
   channel down and waits with jittered exponential backoff (409, which a
   retry cannot fix quickly, waits longer and is logged as an error naming
   the cause); the actor never gives up, and never hot-loops.
4. Sending (a task of its own reading this channel's outbound mailbox):
   Markdown rendered to text + entities (no parse mode, so Telegram never
   fails to parse; a refusal anyway falls back to plain text), split at
   4096 UTF-16 units, replies quoted in groups and kept in forum topics,
   429 `retry_after` honoured, network failures retried a bounded number of
   times then an ERROR naming the chat; a permanent refusal (chat not found,
   bot blocked) is logged once and not retried. The workspace files a
   message attaches follow its text (`outbound_files`). A delivered final
   reply marks its journal entries done.

On a graceful stop it stops polling and keeps sending until its mailbox is
empty (the supervisor's grace bounds that).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.channels.access import Action, Chat, Sender
from autobot.channels.base import Attachment, InboundKind, InboundMessage, OutboundMessage
from autobot.channels.gate import ChannelGate
from autobot.channels.inbound_journal import Arrival
from autobot.channels.reply_pump import ReplyPump
from autobot.channels.spec import ChannelEnv
from autobot.channels.stopped import drain_stopped
from autobot.channels.telegram.api import (
    BadRequest,
    BotIdentity,
    Conflict,
    RateLimited,
    TelegramApi,
    TelegramError,
    Unauthorized,
    is_transient,
)
from autobot.channels.telegram.chunks import plain_chunks, split_rendered
from autobot.channels.telegram.outbound_files import send_attachments
from autobot.channels.telegram.render import RenderedText, render_markdown
from autobot.channels.telegram.updates import TelegramEvent, parse_update
from autobot.channels.webhook import WebhookDelivery
from autobot.config.schema import TelegramConfig
from autobot.logs.records import Logger
from autobot.runtime import backoff_delay

ALLOWED_UPDATES = ("message",)
TYPING_REFRESH_SECONDS = 4.0  # a chat action shows for about 5 s
TYPING_LIMIT_SECONDS = 600.0  # a turn that runs longer stops showing "typing"
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
CONFLICT_BASE = 15.0  # another poller or a webhook: a retry soon will fail again
CONFLICT_CAP = 300.0
SEND_ATTEMPTS = 5
RETRY_AFTER_CAP = 300.0  # a 429's retry_after is obeyed up to this many seconds
RENDER_LIMITER = trio.CapacityLimiter(1)  # a long reply renders in ~0.3 s: off the loop

GREETING = (
    "Hello! I'm autobot, your assistant. Write to me here; /reset starts a new "
    "conversation, /help shows this again."
)
HELP = (
    "Write a message and I'll answer. Commands: /reset starts a new conversation "
    "(the old one is archived), /help shows this."
)


@attrs.define(eq=False)
class _Typing:
    """One chat's (or topic's) typing indicator: its task's scope, and how many
    turns there still wait for their final reply."""

    scope: trio.CancelScope
    turns: int = 1


class ChannelStopped(Exception):
    """The channel cannot work until the operator changes something (a rejected token)."""


@attrs.define(kw_only=True, eq=False)
class TelegramChannel:
    """One incarnation of the Telegram channel (see the module docstring).

    `api` talks to the Bot API, `gate` is the shared inbound path (access,
    journal, router), `save_media` stores an event's files in the workspace
    and returns the message's attachments; `workspace` is where the files a
    reply attaches are read from.
    """

    env: ChannelEnv
    config: TelegramConfig
    api: TelegramApi
    gate: ChannelGate
    save_media: Callable[[TelegramEvent], Awaitable[Sequence[Attachment]]]
    workspace: Path
    webhook: trio.MemoryReceiveChannel[WebhookDelivery] | None = None
    webhook_secret: str | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    _bot: BotIdentity | None = attrs.field(init=False, default=None)
    _typing: dict[tuple[str, str | None], _Typing] = attrs.field(init=False, factory=dict)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
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
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                # Started before the replay: the router starts after the channels,
                # and a replay larger than its mailbox would wait for it forever.
                task_status.started()
                self._log.info("telegram channel ready", bot=f"@{self._bot.username}")
                async with trio.open_nursery() as loops:
                    loops.start_soon(self._watch_stopping)
                    loops.start_soon(self._receive_updates)
                    loops.start_soon(self._send_loop)
                nursery.cancel_scope.cancel("telegram channel stopped")

    # ---- connecting -----------------------------------------------------------------

    async def _connect(self) -> BotIdentity:
        """getMe and deleteWebhook, retried with backoff until they work (or 401)."""
        attempt = 0
        while True:
            try:
                bot = await self.api.get_me()
                if self.webhook is None:
                    await self.api.delete_webhook(drop_pending=False)
                else:
                    await self._set_webhook()
                return bot
            except Unauthorized as exc:
                raise ChannelStopped(
                    "the Bot API rejected the token (401): check TELEGRAM_BOT_TOKEN in .env"
                ) from exc
            except TelegramError as exc:
                if not is_transient(exc):
                    raise
                await self._cool_down(exc, attempt)
                attempt += 1

    async def _set_webhook(self) -> None:
        if not self.config.webhook_url or not self.webhook_secret:
            raise ChannelStopped("webhook mode needs channels.telegram.webhook_url")
        try:
            await self.api.set_webhook(
                self.config.webhook_url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        except ValueError as exc:
            raise ChannelStopped(f"webhook_url refused: {exc}") from exc

    async def _cool_down(self, exc: TelegramError, attempt: int) -> None:
        """Mark the channel down and wait: retry_after for 429, long for 409,
        jittered exponential backoff otherwise."""
        now = trio.current_time()
        self.env.health.mark_down(now, str(exc))
        self.env.health.reconnects += 1
        if isinstance(exc, RateLimited) and exc.retry_after:
            delay = min(float(exc.retry_after), RETRY_AFTER_CAP)
        elif isinstance(exc, Conflict):
            delay = CONFLICT_BASE + backoff_delay(attempt, CONFLICT_BASE, CONFLICT_CAP, self.rng)
            cause = (
                "a webhook is set for this bot"
                if exc.webhook_active
                else "another program is polling with this bot's token"
            )
            self._log.error(f"telegram: {cause}; retrying in {delay:.0f} s", error=str(exc))
        else:
            delay = backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng)
            self._log.warn(f"telegram unreachable; retrying in {delay:.1f} s", error=str(exc))
        await trio.sleep(delay)

    # ---- receiving ------------------------------------------------------------------

    async def _replay(self) -> None:
        """Journaled messages without a delivered reply go to the router again."""
        pending = self.gate.pending
        if pending:
            self._log.warn("replaying unanswered telegram messages", count=len(pending))
        for entry in pending:
            self._start_typing(entry.message)
            await self.env.router.send(entry.message)

    async def _watch_stopping(self) -> None:
        """On a graceful stop: stop polling now, and sending once the mailbox is empty."""
        await self.env.stopping.wait()
        self._polling.cancel("telegram channel asked to stop")
        self._replies.stop("telegram channel asked to stop")

    async def _receive_updates(self) -> None:
        """Replayed messages first, then new ones (polled, or posted to the webhook),
        until a graceful stop cancels `_polling`."""
        with self._polling:
            await self._replay()
            if self.webhook is None:
                await self._poll_until_stopping()
            else:
                await self._serve_webhook(self.webhook)

    async def _poll_until_stopping(self) -> None:
        offset: int | None = None
        attempt = 0
        while True:
            try:
                updates = await self.api.get_updates(
                    offset=offset,
                    poll_timeout=self.config.poll_timeout,
                    allowed_updates=ALLOWED_UPDATES,
                )
                self.env.health.mark_up(trio.current_time())
                if updates:
                    # a transient failure in here (a media download) leaves the
                    # offset alone: the whole batch comes again
                    await self._receive(updates)
                    offset = max(update["update_id"] for update in updates) + 1
            except Unauthorized as exc:
                self.env.health.mark_stopped(trio.current_time(), str(exc))
                self._log.error("telegram channel stopped: the token was revoked (401)")
                await trio.sleep_forever()
            except TelegramError as exc:
                if not is_transient(exc):
                    raise
                await self._cool_down(exc, attempt)
                attempt += 1
                continue
            attempt = 0

    async def _serve_webhook(self, deliveries: trio.MemoryReceiveChannel[WebhookDelivery]) -> None:
        """Webhook mode: each POSTed update is handled like a polled batch of one;
        the endpoint answers 200 once it is journaled (or ignored), 503 when a
        transient failure (a media download) means Telegram should retry."""
        with deliveries:
            self.env.health.mark_up(trio.current_time())
            async for delivery in deliveries:
                with delivery.handled:
                    update = dict(delivery.update)
                    if not isinstance(update.get("update_id"), int):
                        delivery.handled.send_nowait(True)  # not an update: nothing to retry
                        continue
                    try:
                        await self._receive([update])
                    except TelegramError as exc:
                        if not is_transient(exc):
                            raise
                        self._log.warn("telegram webhook update not handled yet", error=str(exc))
                        delivery.handled.send_nowait(False)
                        continue
                    delivery.handled.send_nowait(True)

    async def _receive(self, updates: list[dict[str, Any]]) -> None:
        """One batch: judge, answer commands, journal (one fsync), then dispatch."""
        assert self._bot is not None
        arrivals: list[Arrival] = []
        for update in updates:
            event = parse_update(update, self._bot)
            if event is None:
                continue
            decision = await self.gate.check(
                Sender(id=event.sender_id, username=event.username),
                Chat(id=event.chat_id, is_group=event.is_group, addressed=event.addressed),
            )
            if decision.action in (Action.REPLY_DENIED, Action.REPLY_PAIRING):
                await self._send_plain(event.chat_id, decision.text, thread_id=event.thread_id)
                continue
            if decision.action is not Action.ALLOW:
                continue
            if event.command == "reset":  # what came before it belongs to the old conversation
                await self._hand_over(arrivals)
                arrivals = []
            if event.command is not None and await self._command(event):
                continue
            attachments = await self.save_media(event)
            message = InboundMessage(
                channel=self.env.name,
                chat_id=event.chat_id,
                content=event.text,
                sender_id=event.sender_id,
                sender_name=event.display_name,
                message_id=str(event.message_id),
                thread_id=None if event.thread_id is None else str(event.thread_id),
                reply_to_id=None if event.reply_to is None else str(event.reply_to),
                is_group=event.is_group,
                addressed=event.addressed,
                attachments=tuple(attachments),
            )
            arrivals.append(
                Arrival(message=message, dedup_keys=event.dedup_keys, position=event.update_id)
            )
        await self._hand_over(arrivals)

    async def _hand_over(self, arrivals: list[Arrival]) -> None:
        """Journal `arrivals` (one fsync), then hand them to the router, in order."""
        entries = await self.gate.accept(arrivals)
        for entry in entries:
            self._start_typing(entry.message)
        await self.gate.dispatch(entries)

    async def _command(self, event: TelegramEvent) -> bool:
        """Answer one of our commands; False for a command the model should see."""
        if event.command in ("start", "help"):
            text = GREETING if event.command == "start" else HELP
            await self._send_plain(event.chat_id, text, thread_id=event.thread_id)
            return True
        if event.command == "reset":
            reset = InboundMessage(
                channel=self.env.name,
                chat_id=event.chat_id,
                content="",
                sender_id=event.sender_id,
                kind=InboundKind.RESET,
            )
            await self.env.router.send(reset)
            await self._send_plain(
                event.chat_id,
                "Started a new conversation (the previous one is archived).",
                thread_id=event.thread_id,
            )
            return True
        return False

    # ---- typing ---------------------------------------------------------------------

    def _start_typing(self, message: InboundMessage) -> None:
        """Show "typing" in the message's chat (and topic) until every turn it
        has waiting there got its final reply."""
        if self._nursery is None:
            return
        key = (message.chat_id, message.thread_id)
        typing = self._typing.get(key)
        if typing is not None:
            typing.turns += 1
            return
        typing = _Typing(
            scope=trio.CancelScope(deadline=trio.current_time() + TYPING_LIMIT_SECONDS)
        )
        self._typing[key] = typing
        self._nursery.start_soon(self._keep_typing, message, typing)

    async def _keep_typing(self, message: InboundMessage, typing: _Typing) -> None:
        thread = _int(message.thread_id)
        with typing.scope:
            while True:
                try:
                    await self.api.send_chat_action(message.chat_id, thread_id=thread)
                except TelegramError:
                    pass  # best effort: a missing indicator hurts nobody
                await trio.sleep(TYPING_REFRESH_SECONDS)
        key = (message.chat_id, message.thread_id)
        if self._typing.get(key) is typing:
            del self._typing[key]

    def _stop_typing(self, message: OutboundMessage) -> None:
        key = (message.chat_id, message.thread_id)
        typing = self._typing.get(key)
        if typing is None:
            return
        typing.turns -= 1
        if typing.turns <= 0:
            del self._typing[key]
            typing.scope.cancel("every waiting turn was answered")

    # ---- sending --------------------------------------------------------------------

    async def _send_loop(self) -> None:
        """Deliver replies as they come; once stopping, those already queued, then end."""
        await self._replies.run(self.env.outbox, self.env.stopping, self._deliver)

    async def _deliver(self, message: OutboundMessage) -> None:
        """Send `message`; a final reply then completes its journal entries, also
        when Telegram refused it for good (retrying after a restart would only
        run the turn again for the same refusal). After a network failure that
        outlasted the retries the entries stay, so a restart answers them."""
        if message.final:
            self._stop_typing(message)
        rendered = await trio.to_thread.run_sync(
            render_markdown, message.content, limiter=RENDER_LIMITER
        )
        failure: TelegramError | None = None
        for index, chunk in enumerate(split_rendered(rendered)):
            reply_to = _int(message.reply_to_id) if index == 0 else None
            failure = await self._send_chunk(message, chunk, reply_to)
            if failure is not None:
                break
        if failure is None and message.attachments:
            await send_attachments(self.api, message, self.workspace, logger=self._log)
        if message.final and (failure is None or not is_transient(failure)):
            await self.gate.delivered(message)

    async def _send_chunk(
        self, message: OutboundMessage, chunk: RenderedText, reply_to: int | None
    ) -> TelegramError | None:
        """Send one chunk; the failure that stopped it, if any (logged)."""
        thread = _int(message.thread_id)
        send = functools.partial(
            self.api.send_message,
            message.chat_id,
            chunk.text,
            entities=chunk.entities,
            reply_to=reply_to,
            thread_id=thread,
        )
        failure = await self._with_retries(send)
        if isinstance(failure, BadRequest) and failure.is_parse_error:
            self._log.warn("telegram refused the formatting; sending plain text")
            return await self._send_plain(message.chat_id, chunk.text, thread_id=thread)
        if failure is not None:
            self._give_up(message.chat_id, failure)
        return failure

    async def _send_plain(
        self, chat_id: str, text: str, *, thread_id: Any = None
    ) -> TelegramError | None:
        """Plain text (no entities), split at the limit; the failure that stopped it."""
        thread = _int(thread_id)
        for part in plain_chunks(text):
            send = functools.partial(self.api.send_message, chat_id, part, thread_id=thread)
            failure = await self._with_retries(send)
            if failure is not None:
                self._give_up(chat_id, failure)
                return failure
        return None

    async def _with_retries(self, call: Callable[[], Awaitable[object]]) -> TelegramError | None:
        """`call` until it works (None) or fails for good (the error): transient
        failures are retried `SEND_ATTEMPTS` times, after 429's retry_after or
        a jittered backoff."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                await call()
                return None
            except TelegramError as exc:
                if not is_transient(exc) or attempt == SEND_ATTEMPTS - 1:
                    return exc
                if isinstance(exc, RateLimited) and exc.retry_after:
                    await trio.sleep(min(float(exc.retry_after), RETRY_AFTER_CAP))
                else:
                    await trio.sleep(backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng))
        raise AssertionError("unreachable: the last attempt returns")

    def _give_up(self, chat_id: str, exc: TelegramError) -> None:
        """Log a message that will not be delivered (once)."""
        self.env.health.send_failures += 1
        self._log.error("telegram message not delivered", chat_id=chat_id, error=str(exc))


def _int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
