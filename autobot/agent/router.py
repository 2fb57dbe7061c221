"""The session router: one agent actor per conversation, started on demand.

`SessionRouter` reads every `InboundMessage` (from the channel actors and
cron) and delivers it to the agent actor of its session key
`channel:chat_id`, starting one as a temporary child of its
`DynamicSupervisor` when none is running. It owns each session's mailbox
(bounded, `SESSION_MAILBOX_SIZE`) and never waits on one: a full mailbox gets
a short "busy" reply, so one flooded session cannot hold up the others.

An actor that went idle closed its mailbox; the router notices on its next
send (BrokenResourceError), forgets it, and starts a fresh actor which
reloads the history from disk. Child ids carry a generation number
(`telegram:42#3`), so a new incarnation never waits for the old one's exit.
Crashes are reported by the supervisor's events: the router logs them, counts
them and forgets the handle; the crashed actor already apologised. On start
it has the journal store list the existing journals once
(`SessionStore.scan`), so a new conversation's first turn skips its read,
and it owns the system prompt's inotify watch (`PromptCache.start_watching`)
until it ends.

The router lends each session its rate buckets from `limits` (a
`SessionLimitsKeeper`, which the gateway keeps across router incarnations)
and takes them back when an incarnation ends, so an actor restarted after
an idle stop or a crash, or after a crash of the router itself, resumes with
the buckets its predecessor left (neither a short idle timeout nor a crash
multiplies the limits). Buckets that are full again are forgotten.
"""

from __future__ import annotations

import attrs
import trio

from autobot.agent.session import AgentDeps, SessionActor, end_unanswered
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.outbound import UnknownChannel
from autobot.limits.buckets import SessionLimits, SessionLimitsKeeper
from autobot.runtime import (
    ChildEnv,
    ChildSpec,
    ChildStartFailed,
    DynamicSupervisor,
    EventKind,
    Restart,
    SupervisorEvent,
    SupervisorNotRunning,
)

# A person types slower than a turn completes; 16 queued messages means the
# session is flooded or stuck, and further ones get a "busy" reply instead.
SESSION_MAILBOX_SIZE = 16
# Inbound from every channel and cron; the router only forwards (never awaits a
# turn), so a small buffer absorbs bursts.
ROUTER_MAILBOX_SIZE = 256
SESSION_SHUTDOWN_GRACE = 10.0
BUSY_TEXT = "I'm still working on your earlier messages. Please wait a moment."


@attrs.frozen(kw_only=True)
class RouterStats:
    """A snapshot for metrics: live sessions, lifetime counters, and how many
    stopped sessions have rate buckets kept (not yet refilled)."""

    active_sessions: int
    started: int
    crashed: int
    exited: int
    busy_refusals: int
    dropped_replies: int
    kept_limits: int = 0


@attrs.define(kw_only=True, eq=False)
class _Handle:
    child_id: str
    send: trio.MemorySendChannel[InboundMessage]
    limits: SessionLimits


@attrs.define(kw_only=True, eq=False)
class SessionRouter:
    """Routes inbound messages to per-session agent actors (see the module docstring).

    `stopping` is the graceful-stop signal (pass the router's own `ChildEnv.stopping`
    when it is supervised): no new messages are taken and every session is
    stopped. Closing the inbox (every sender gone) also stops the router.
    `limits` keeps the sessions' rate buckets; pass the same keeper to every
    incarnation (default: a new one, for a router of its own).
    """

    deps: AgentDeps
    inbox: trio.MemoryReceiveChannel[InboundMessage]
    stopping: trio.Event = attrs.field(factory=trio.Event)
    limits: SessionLimitsKeeper = attrs.field(
        default=attrs.Factory(
            lambda router: SessionLimitsKeeper(router.deps.rate_limits), takes_self=True
        )
    )
    supervisor: DynamicSupervisor = attrs.field(init=False)

    _sessions: dict[str, _Handle] = attrs.field(init=False, factory=dict)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _generation: int = attrs.field(init=False, default=0)
    _started: int = attrs.field(init=False, default=0)
    _crashed: int = attrs.field(init=False, default=0)
    _exited: int = attrs.field(init=False, default=0)
    _busy: int = attrs.field(init=False, default=0)
    _dropped: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self.supervisor = DynamicSupervisor(
            name="session-router", on_event=self._on_event, stopping=self.stopping
        )

    def statistics(self) -> RouterStats:
        return RouterStats(
            active_sessions=len(self._sessions),
            started=self._started,
            crashed=self._crashed,
            exited=self._exited,
            busy_refusals=self._busy,
            dropped_replies=self._dropped,
            kept_limits=len(self.limits),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.inbox:
            await self._index_journals()
            await self.deps.disk(self.deps.prompts.start_watching)
            try:
                await self._route(task_status)
            finally:
                self.deps.prompts.stop_watching()

    async def _route(self, task_status: trio.TaskStatus[None]) -> None:
        """Deliver inbound messages until stopped or the inbox closes; then stop every session."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.supervisor.run)
            with trio.CancelScope() as reading:
                nursery.start_soon(self._cancel_when_stopping, reading)
                task_status.started()
                async for message in self.inbox:
                    self._deliver(message)
            self.supervisor.stop()
            for handle in self._sessions.values():
                handle.send.close()
            self._sessions.clear()

    async def _index_journals(self) -> None:
        """List the existing journals once, so new sessions skip their first read
        (`SessionStore.scan`); without the index every first turn reads."""
        try:
            await self.deps.disk(self.deps.journal.scan)
        except OSError as exc:
            self.deps.logger.warn(
                "Session journals could not be listed; every new session reads its journal first",
                error=f"{type(exc).__name__}: {exc.strerror or exc}",
            )

    async def _cancel_when_stopping(self, reading: trio.CancelScope) -> None:
        await self.stopping.wait()
        reading.cancel("session router asked to stop")

    def _reply_nowait(
        self, message: InboundMessage, text: str, *, is_error: bool, why: str
    ) -> None:
        """The final word on `message` when no actor will handle it; a
        scheduled run's scheduler learns `why` (log-safe) it did not run."""
        end_unanswered(message, why)
        reply = OutboundMessage(
            channel=message.channel,
            chat_id=message.chat_id,
            content=text,
            final=True,
            is_error=is_error,
        )
        try:
            self.deps.outbound.send_nowait(reply)
        except (
            trio.WouldBlock,
            trio.ClosedResourceError,
            trio.BrokenResourceError,
            UnknownChannel,
        ):
            self._dropped += 1

    def _deliver(self, message: InboundMessage) -> None:
        key = message.session_key
        handle = self._sessions.get(key)
        if handle is not None:
            try:
                handle.send.send_nowait(message)
                return
            except trio.WouldBlock:
                self._busy += 1
                self.deps.logger.warn("Session mailbox full; message refused", session=key)
                self._reply_nowait(
                    message, BUSY_TEXT, is_error=False, why="the session's mailbox was full"
                )
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._forget(handle.child_id)  # it went idle or crashed: start a fresh one
        self._start_session(message)

    def _start_session(self, message: InboundMessage) -> None:
        key = message.session_key
        self._generation += 1
        child_id = f"{key}#{self._generation}"
        send, receive = trio.open_memory_channel[InboundMessage](SESSION_MAILBOX_SIZE)
        limits = self.limits.checkout(key, trio.current_time())

        def build(env: ChildEnv) -> SessionActor:
            return SessionActor(
                channel=message.channel,
                chat_id=message.chat_id,
                deps=self.deps,
                inbox=receive,
                self_send=send.clone(),
                limits=limits,
                stopping=env.stopping,
            )

        spec = ChildSpec(
            id=child_id,
            factory=build,
            restart=Restart.TEMPORARY,
            shutdown_grace=SESSION_SHUTDOWN_GRACE,
        )
        send.send_nowait(message)  # the buffer is empty: cannot block
        self._sessions[key] = _Handle(child_id=child_id, send=send, limits=limits)
        assert self._nursery is not None
        self._nursery.start_soon(self._start_child, spec, message, receive)

    async def _start_child(
        self,
        spec: ChildSpec,
        message: InboundMessage,
        receive: trio.MemoryReceiveChannel[InboundMessage],
    ) -> None:
        """Start one agent actor. Runs as its own task so that starting many
        sessions at once (a burst after a restart) overlaps instead of queueing
        behind each other; messages for the session wait in its mailbox."""
        try:
            await self.supervisor.start_child(spec)
        except (ChildStartFailed, SupervisorNotRunning) as exc:
            self._forget(spec.id)
            receive.close()
            self.deps.logger.error(
                "Could not start session actor", exc=exc, session=message.session_key
            )
            self._reply_nowait(
                message,
                "Sorry, I can't take messages right now.",
                is_error=True,
                why="the session actor could not start",
            )
            return
        self._started += 1

    def _forget(self, child_id: str) -> None:
        key = child_id.rpartition("#")[0]
        handle = self._sessions.get(key)
        if handle is not None and handle.child_id == child_id:
            handle.send.close()
            del self._sessions[key]
            self.limits.release(key, handle.limits, trio.current_time())

    def _on_event(self, event: SupervisorEvent) -> None:
        if event.child_id is None:
            return
        if event.kind is EventKind.FAILED:
            self._crashed += 1
            self.deps.logger.error(
                "Session actor failed", session=event.child_id, error=event.error or "unknown"
            )
        elif event.kind is EventKind.EXITED:
            self._exited += 1
        else:
            return
        self._forget(event.child_id)
