"""The Slack channel actor: Socket Mode in, mrkdwn replies out.

One incarnation (built per start by the channel supervisor):

1. `auth.test` with the bot token (the bot's user id, for mentions and loop
   prevention). A refused token (`invalid_auth`, `not_authed`,
   `account_inactive`, `token_revoked`...) stops the channel for good:
   `/healthz` and the log say why, replies are dropped with a log line, and
   nothing is retried until the operator fixes the token. Network trouble
   is retried with jittered backoff.
2. Messages still in the inbound journal without a delivered reply (a crash,
   `kill -9`) go to the router again.
3. Socket Mode (`socket`): apps.connections.open with the app token, the
   WebSocket, its `hello`; then every envelope is parsed (`events`), judged
   by the gate (access, groups, mentions), its files saved to
   `workspace/inbox/`, journaled (one fsync per batch of envelopes), and
   only then acknowledged on its connection, then handed to the router. A
   redelivery (same event id, or the same message as `message` and as
   `app_mention`) is acknowledged and dropped: by the bounded memory of seen
   event ids, and durably by the journal's dedup keys (also after a crash).
   A `warning` or `refresh_requested` disconnect opens the next socket
   *before* the old one is closed (the old one keeps delivering until then,
   and is closed once its envelopes are acknowledged), at most one planned
   refresh per `MIN_REFRESH_SECONDS`. A dropped socket or a failed open marks
   the channel down and waits with jittered exponential backoff (Retry-After
   for a rate-limited open: the method is rate tier 1), never a hot loop; a
   connection that lasted `STABLE_SECONDS` resets the backoff.
   `link_disabled` (Socket Mode turned off) stops the channel, as does a
   refused app token.
4. Sending (a task of its own reading this channel's outbound mailbox):
   Markdown rendered to escaped mrkdwn (`mrkdwn`: model output can never
   ping or link), split at 4,000 characters with code fences balanced,
   posted in the message's thread (`thread_id`: the thread_ts of the
   message answered), 429 Retry-After honoured (capped), network failures
   retried a bounded number of times then an ERROR naming the chat; a
   permanent refusal (channel_not_found, not_in_channel...) is logged once
   and not retried. Attachments follow the text (`files.send_files`). A
   delivered final reply marks its journal entries done.

On a graceful stop it closes its sockets (unacknowledged envelopes are
redelivered by Slack to the next start) and keeps sending until its
mailbox is empty (the supervisor's grace bounds that).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from autobot.channels.access import Action, Chat, Sender
from autobot.channels.base import Attachment, InboundMessage, OutboundMessage
from autobot.channels.gate import ChannelGate
from autobot.channels.inbound_journal import Arrival
from autobot.channels.reply_pump import ReplyPump
from autobot.channels.slack.api import TS, BotIdentity, SlackApi
from autobot.channels.slack.errors import AuthFailed, RateLimited, SlackError, is_transient
from autobot.channels.slack.events import SeenEvents, SlackEvent, event_id_of, parse_event
from autobot.channels.slack.files import send_files
from autobot.channels.slack.mrkdwn import plain_blocks, render_mrkdwn, split_blocks
from autobot.channels.slack.socket import (
    REFRESH_REASONS,
    Received,
    SocketConnection,
    SocketDisabled,
    SocketTrouble,
    run_socket,
)
from autobot.channels.spec import ChannelEnv
from autobot.channels.stopped import drain_stopped
from autobot.logs.records import Logger
from autobot.runtime import backoff_delay

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
STABLE_SECONDS = 60.0  # a socket that lasted this long resets the reconnect backoff
MIN_REFRESH_SECONDS = 30.0  # planned refreshes are at least this far apart
SEND_ATTEMPTS = 5
RETRY_AFTER_CAP = 300.0  # a 429's Retry-After is obeyed up to this many seconds
# Envelopes read from the sockets, waiting to be journaled: a full buffer stops
# reading, and Slack redelivers whatever waits unacknowledged too long.
FRAMES_BUFFER = 64
ENVELOPE_BATCH = 32  # envelopes journaled with one fsync
RENDER_LIMITER = trio.CapacityLimiter(
    1
)  # a long reply renders in a fraction of a second: off the loop
FILE_READS = trio.CapacityLimiter(1)  # one outbound file in memory at a time

SaveFiles = Callable[[SlackEvent], Awaitable[tuple[tuple[Attachment, ...], tuple[str, ...]]]]


class ChannelStopped(Exception):
    """The channel cannot work until the operator changes something."""


@attrs.define(kw_only=True, eq=False)
class SlackChannel:
    """One incarnation of the Slack channel (see the module docstring).

    `api` talks to the Web API, `gate` is the shared inbound path (access,
    journal, router), `save_files` stores an event's files in the workspace
    (attachments, and the names of files left out); `workspace` is where the
    files a reply attaches are read from; `rng` draws the backoff jitter.
    """

    env: ChannelEnv
    api: SlackApi
    gate: ChannelGate
    save_files: SaveFiles
    workspace: Path
    rng: random.Random = attrs.field(factory=random.Random)
    seen: SeenEvents = attrs.field(factory=SeenEvents)
    _bot: BotIdentity | None = attrs.field(init=False, default=None)
    _receiving: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)
    _replies: ReplyPump = attrs.field(init=False, factory=ReplyPump)
    _sockets: list[SocketConnection] = attrs.field(init=False, factory=list)

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
            reason: str | None = None
            try:
                async with trio.open_nursery() as loops:
                    # Started before the replay: the router starts after the channels,
                    # and a replay larger than its mailbox would wait for it forever.
                    task_status.started()
                    self._log.info("slack channel ready", bot_user=self._bot.user_id)
                    loops.start_soon(self._watch_stopping)
                    loops.start_soon(self._receive_events)
                    loops.start_soon(self._send_loop)
            except* ChannelStopped as stopped:
                reason = str(_first_leaf(stopped))
            if reason is not None:
                await drain_stopped(self.env, reason, trio.TASK_STATUS_IGNORED)

    # ---- connecting -----------------------------------------------------------------

    async def _connect(self) -> BotIdentity:
        """auth.test, retried with backoff until it works or the token is refused."""
        attempt = 0
        while True:
            try:
                return await self.api.auth_test()
            except AuthFailed as exc:
                raise ChannelStopped(
                    f"Slack rejected the bot token ({exc.error}): check SLACK_BOT_TOKEN in .env"
                ) from exc
            except SlackError as exc:
                if not is_transient(exc):
                    raise ChannelStopped(f"Slack refused auth.test: {exc}") from exc
                await self._cool_down(exc, attempt)
                attempt += 1

    async def _cool_down(self, exc: Exception, attempt: int, *, mark: bool = True) -> None:
        """Mark the channel down (when `mark`) and wait: a rate limit's
        Retry-After (capped), else jittered exponential backoff."""
        now = trio.current_time()
        if mark:
            self.env.health.mark_down(now, str(exc))
        self.env.health.reconnects += 1
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = min(exc.retry_after, RETRY_AFTER_CAP)
        else:
            delay = backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng)
        self._log.warn(f"slack unreachable; retrying in {delay:.1f} s", error=str(exc))
        await trio.sleep(delay)

    async def _open(
        self, number: int, nursery: trio.Nursery, deliver: trio.MemorySendChannel[Received]
    ) -> SocketConnection:
        """A new socket, served in `nursery`; raises ChannelStopped for what
        retrying cannot fix."""
        socket = functools.partial(
            run_socket, self.api, number=number, deliver=deliver, on_unknown=self._unknown_frame
        )
        try:
            connection: SocketConnection = await nursery.start(socket)
            return connection
        except AuthFailed as exc:
            raise ChannelStopped(
                f"Slack rejected the app token ({exc.error}): check SLACK_APP_TOKEN in .env"
                " (an xapp- token with connections:write)"
            ) from exc
        except SocketDisabled as exc:
            raise ChannelStopped(f"{exc}: turn Socket Mode on in the app's settings") from exc
        except SlackError as exc:
            if not is_transient(exc):
                raise ChannelStopped(f"Slack refused to open a socket: {exc}") from exc
            raise

    async def _keep_connected(self, deliver: trio.MemorySendChannel[Received]) -> None:
        """Keep one socket open (two during a refresh), forever (see the module docstring)."""
        attempt = 0
        number = 0
        current: SocketConnection | None = None
        async with trio.open_nursery() as sockets:
            try:
                while True:
                    number += 1
                    live = current is not None and not current.ended.is_set()
                    try:
                        new = await self._open(number, sockets, deliver)
                    except (SlackError, SocketTrouble) as exc:
                        await self._cool_down(exc, attempt, mark=not live)
                        attempt += 1
                        continue
                    self._sockets = [s for s in self._sockets if not s.ended.is_set()] + [new]
                    self.env.health.mark_up(trio.current_time())
                    if current is not None and not current.ended.is_set():
                        self._log.info("slack socket refreshed", old=current.number, new=number)
                        sockets.start_soon(current.retire)
                    current = new
                    await current.replace.wait()
                    if current.disabled:
                        raise ChannelStopped(
                            "Slack turned Socket Mode off for this app (link_disabled):"
                            " turn it on in the app's settings"
                        )
                    lasted = trio.current_time() - current.opened_at
                    if lasted >= STABLE_SECONDS:
                        attempt = 0
                    if current.disconnect_reason in REFRESH_REASONS:
                        self._log.info(
                            "slack asked for a new socket", reason=current.disconnect_reason
                        )
                        await trio.sleep_until(current.opened_at + MIN_REFRESH_SECONDS)
                        continue
                    how = "no pong" if current.stalled else f"code {current.close_code}"
                    dropped = SocketTrouble(f"slack socket closed ({how})")
                    await self._cool_down(dropped, attempt)
                    attempt += 1
            finally:
                with trio.CancelScope(shield=True):  # each close is bounded: together too
                    async with trio.open_nursery() as closing:
                        for socket in self._sockets:
                            if not socket.ended.is_set():
                                closing.start_soon(socket.close)

    def _unknown_frame(self, connection: SocketConnection, what: str) -> None:
        self._log.debug("slack frame ignored", socket=connection.number, what=what)

    # ---- receiving ------------------------------------------------------------------

    async def _replay(self) -> None:
        """Journaled messages without a delivered reply go to the router again."""
        pending = self.gate.pending
        if pending:
            self._log.warn("replaying unanswered slack messages", count=len(pending))
        for entry in pending:
            await self.env.router.send(entry.message)

    async def _watch_stopping(self) -> None:
        """On a graceful stop: stop receiving now, and sending once the mailbox is empty."""
        await self.env.stopping.wait()
        self._receiving.cancel("slack channel asked to stop")
        self._replies.stop("slack channel asked to stop")

    async def _receive_events(self) -> None:
        """Replayed messages first, then the sockets' envelopes, until a graceful
        stop cancels `_receiving`."""
        deliver, frames = trio.open_memory_channel[Received](FRAMES_BUFFER)
        with self._receiving, deliver, frames:
            await self._replay()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._handle_envelopes, frames)
                await self._keep_connected(deliver)

    async def _handle_envelopes(self, frames: trio.MemoryReceiveChannel[Received]) -> None:
        """Envelopes in batches: what is waiting is journaled with one fsync."""
        async for first in frames:
            batch = [first]
            while len(batch) < ENVELOPE_BATCH:
                try:
                    batch.append(frames.receive_nowait())
                except trio.WouldBlock:
                    break
            await self._receive(batch)

    async def _receive(self, batch: list[Received]) -> None:
        """Judge, save files, journal (one fsync), acknowledge, dispatch."""
        assert self._bot is not None
        arrivals: list[Arrival] = []
        journaled: list[Received] = []
        for item in batch:
            envelope = item.envelope
            event_id = event_id_of(envelope.payload)
            event = None
            if envelope.type == "events_api" and event_id is not None and event_id not in self.seen:
                self.seen.add(event_id)
                event = parse_event(envelope.payload, self._bot)
            if event is None:
                await self._ack(item)  # not ours, filtered, or a redelivery
                continue
            decision = await self.gate.check(
                Sender(id=event.user),
                Chat(id=event.channel, is_group=event.is_group, addressed=event.addressed),
            )
            if decision.action is not Action.ALLOW:
                await self._ack(item)
                if decision.action in (Action.REPLY_DENIED, Action.REPLY_PAIRING):
                    await self._send_plain(event.channel, decision.text, thread_ts=event.thread_ts)
                continue
            arrivals.append(
                Arrival(message=await self._message(event), dedup_keys=event.dedup_keys)
            )
            journaled.append(item)
        entries = await self.gate.accept(arrivals)
        for item in journaled:
            await self._ack(item)
        await self.gate.dispatch(entries)

    async def _message(self, event: SlackEvent) -> InboundMessage:
        """The router's message for `event`, its files saved (and those that
        could not be named in the text)."""
        try:
            attachments, missed = await self.save_files(event)
        except AuthFailed as exc:
            raise ChannelStopped(f"Slack rejected the bot token ({exc.error})") from exc
        content = event.text
        if missed:
            note = "[files not received: " + ", ".join(missed) + "]"
            content = f"{content}\n{note}" if content else note
        return InboundMessage(
            channel=self.env.name,
            chat_id=event.channel,
            content=content,
            sender_id=event.user,
            sender_name=event.user,
            message_id=event.ts,
            thread_id=event.reply_thread,
            reply_to_id=event.thread_ts,
            is_group=event.is_group,
            addressed=event.addressed,
            attachments=attachments,
        )

    async def _ack(self, item: Received) -> None:
        if not await item.connection.ack(item.envelope.envelope_id):
            self._log.debug(
                "slack ack not sent: its socket is closed (Slack will redeliver)",
                socket=item.connection.number,
            )

    # ---- sending --------------------------------------------------------------------

    async def _send_loop(self) -> None:
        await self._replies.run(self.env.outbox, self.env.stopping, self._deliver)

    async def _deliver(self, message: OutboundMessage) -> None:
        """Send `message`; a final reply then completes its journal entries, also
        when Slack refused it for good (retrying after a restart would only
        run the turn again for the same refusal). After a network failure that
        outlasted the retries the entries stay, so a restart answers them."""
        blocks = await trio.to_thread.run_sync(
            render_mrkdwn, message.content, limiter=RENDER_LIMITER
        )
        thread_ts = _thread(message.thread_id)
        failure = await self._send_chunks(message.chat_id, split_blocks(blocks), thread_ts)
        if failure is None and message.attachments:
            try:
                await send_files(
                    self.api,
                    message,
                    self.workspace,
                    thread_ts=thread_ts,
                    logger=self._log,
                    limiter=FILE_READS,
                )
            except AuthFailed as exc:
                self._revoked(exc)
        if message.final and (failure is None or not is_transient(failure)):
            await self.gate.delivered(message)

    async def _send_plain(self, channel: str, text: str, *, thread_ts: str | None) -> None:
        """Text without formatting (escaped), split at the limit."""
        await self._send_chunks(channel, split_blocks(plain_blocks(text)), thread_ts)

    async def _send_chunks(
        self, channel: str, chunks: list[str], thread_ts: str | None
    ) -> SlackError | None:
        """Post each chunk in turn; the failure that stopped it, if any (logged)."""
        for chunk in chunks:
            send = functools.partial(self.api.post_message, channel, chunk, thread_ts=thread_ts)
            try:
                failure = await self._with_retries(send)
            except ValueError as exc:  # a channel id Slack never sent us
                failure = SlackError(
                    "invalid_arguments", method="chat.postMessage", detail=str(exc)
                )
            if failure is not None:
                self.env.health.send_failures += 1
                self._log.error("slack message not delivered", chat_id=channel, error=str(failure))
                if isinstance(failure, AuthFailed):
                    self._revoked(failure)
                return failure
        return None

    async def _with_retries(self, call: Callable[[], Awaitable[object]]) -> SlackError | None:
        """`call` until it works (None) or fails for good (the error): transient
        failures are retried `SEND_ATTEMPTS` times, after a 429's Retry-After
        or a jittered backoff."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                await call()
                return None
            except SlackError as exc:
                if not is_transient(exc) or attempt == SEND_ATTEMPTS - 1:
                    return exc
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    await trio.sleep(min(exc.retry_after, RETRY_AFTER_CAP))
                else:
                    await trio.sleep(backoff_delay(attempt, BACKOFF_BASE, BACKOFF_CAP, self.rng))
        raise AssertionError("unreachable: the last attempt returns")

    def _revoked(self, exc: AuthFailed) -> None:
        """The bot token stopped working while running: the channel stops."""
        raise ChannelStopped(
            f"Slack rejected the bot token ({exc.error}): check SLACK_BOT_TOKEN in .env"
        ) from exc


def _first_leaf(group: BaseExceptionGroup[ChannelStopped]) -> BaseException:
    """The first exception of `group` that is not itself a group (nurseries nest)."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


def _thread(thread_id: str | None) -> str | None:
    """A reply's thread: the ts it names, if it is one."""
    return thread_id if thread_id is not None and TS.fullmatch(thread_id) else None
