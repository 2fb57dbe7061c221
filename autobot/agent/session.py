"""The agent actor: one per conversation, handling its messages in order.

`SessionActor` owns everything one conversation needs: its active history
(loaded from the journal on start: the messages not yet consolidated), its
daily budget and the use of its rate buckets (through a `SessionGovernor`;
the buckets themselves are lent by the router, which keeps them across
incarnations), its background work (memory consolidation, subagents) in its
own nursery, and the receive side of its mailbox.

Lifecycle (the router starts it as a temporary child of its
DynamicSupervisor):
- ready at once; the journal is loaded with the first turn (in a thread hop,
  skipped when the store knows the session has no journal yet: a new
  conversation reaches the LLM without waiting for the disk), so a slow
  disk never holds up the router;
- each inbound message: the system prompt (cached, see `PromptCache`); the
  user message is written to the journal unsynced while the LLM works (it
  survives a crash of the process; a failed write cancels the turn); when
  the turn ends, one hop appends its messages and tokens and fsyncs, which
  makes the user message durable too; only then is the reply sent; the
  message's photos are shown to a model that accepts images for that turn
  only (re-read from the workspace, never journaled: see `agent.images`);
- idle for `idle_timeout_seconds` with no background work (no subagent, no
  memory consolidation: a new incarnation must never race one on the memory
  files or the journal): close the mailbox (atomically with a last empty
  check, so no message is stranded: the router's next send fails and it
  starts a fresh actor) and return;
- `stopping` set by the supervisor: finish the current turn, then return;
- a CRON message (a cron job fired, see `autobot.cron.scheduler`) is a turn
  like any other (same buckets and budgets), told it is a scheduled run of
  that job and with the job's id in its `ToolContext` (the `cron` tool then
  refuses changes); its `ScheduledRun.done` learns how it ended: the final
  reply once handed to the outbound mailbox, or why it never ran (the actor
  crashed or stopped with it still queued);
- a crash (a bug, a journal write failing): an apology to the chat, an ERROR
  record with the traceback, and the exception propagates so the supervisor
  records the failure. Other sessions are untouched.

Active history is bounded: consolidation folds the oldest part away once it
passes `memory_window`, and if consolidation keeps failing, a hard cap
(`HISTORY_CAP_WINDOWS` windows) drops the oldest part from the model's
context anyway, with a WARN (the journal keeps every message).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs
import trio

from autobot.agent.budget import DailyBudget, utc_day
from autobot.agent.context import PromptCache, read_workspace_text
from autobot.agent.images import accepts_images, load_turn_images
from autobot.agent.loop import APOLOGY, AgentLoop, SessionGovernor
from autobot.agent.memory import (
    MEMORY_FILE,
    consolidation_cut,
    consolidation_request,
    parse_consolidation,
    write_memory,
)
from autobot.agent.session_store import (
    LoadedSession,
    consolidated_entry,
    encode_message,
    journal_failure,
    usage_entry,
)
from autobot.agent.spend import GlobalLimits
from autobot.channels.base import (
    Attachment,
    AttachmentKind,
    InboundKind,
    InboundMessage,
    OutboundMessage,
)
from autobot.channels.outbound import OutboundSink
from autobot.config.schema import AgentDefaults, RateLimitConfig
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import ChatMessage, Role
from autobot.logs.records import Logger
from autobot.runtime.batching import BlockingRunner
from autobot.tools.base import ToolContext
from autobot.tools.spawn import SpawnTool

# Subagents per session at once: enough for parallel research, small enough that
# one session cannot monopolise the LLM ceiling with background work.
MAX_SUBAGENTS = 3
SUBAGENT_ITERATIONS = 15
SUBAGENT_EXCLUDED_TOOLS = ("message", "spawn", "cron")
SUBAGENT_SYSTEM = (
    "You are a background subagent of autobot. Complete the task with the tools you have, "
    "then answer with a concise report of the result. You cannot talk to the user directly."
)
APOLOGY_SEND_TIMEOUT = 5.0


def crash_apology(unread: int) -> str:
    """The apology of a crashed actor; `unread` user messages were still
    queued behind the failed turn and are named, so none vanishes silently."""
    if not unread:
        return APOLOGY
    later = "message" if unread == 1 else f"{unread} messages"
    return (
        f"Sorry, something went wrong while I was working on that, and I could not "
        f"read your next {later} either. Please send again in a moment."
    )


# Active history over this many memory windows means consolidation keeps
# failing; the oldest part is then dropped from the context unconsolidated.
# (A healthy session stays near one window; one turn adds at most
# 2 * max_tool_iterations + 1 messages.)
HISTORY_CAP_WINDOWS = 3


class SessionJournal(Protocol):
    """Durable session history (`autobot.agent.session_store.SessionStore`); blocking
    but for `may_exist`, which answers from memory."""

    def scan(self) -> None: ...

    def may_exist(self, key: str) -> bool: ...

    def load(self, key: str) -> LoadedSession: ...

    def archive(self, key: str, stamp: str) -> bool: ...

    def append(
        self, key: str, entries: Iterable[Mapping[str, Any]], *, sync: bool = True
    ) -> None: ...


@attrs.frozen(kw_only=True)
class AgentDeps:
    """What every agent actor shares, built once by the composition root.

    `shared` and `prompts` are the cross-session mutable objects (see
    `autobot.agent.spend`; `prompts` caches the workspace's system prompt).
    `disk` runs the blocking file work a turn waits for (the first turn's
    journal load, the prompt check, the closing append; a `ThreadBatcher` in
    production); `background` the writes nobody waits for at once (the user
    message written while the LLM works, memory consolidation), on their own
    threads so that a burst of them (creating a journal file can cost a
    millisecond) never queues ahead of a turn. By default the same runner.
    """

    loop: AgentLoop
    journal: SessionJournal
    workspace: Path
    defaults: AgentDefaults
    rate_limits: RateLimitConfig
    shared: GlobalLimits
    outbound: OutboundSink
    logger: Logger
    disk: BlockingRunner
    wall_clock: Callable[[], float]
    background: BlockingRunner = attrs.field(
        default=attrs.Factory(lambda deps: deps.disk, takes_self=True)
    )
    prompts: PromptCache = attrs.field(
        default=attrs.Factory(lambda deps: PromptCache(deps.workspace), takes_self=True)
    )
    # `loop` plus the `spawn` tool, built once: what every agent actor runs.
    session_loop: AgentLoop = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda deps: attrs.evolve(
                deps.loop, registry=deps.loop.registry.with_tools([SpawnTool()])
            ),
            takes_self=True,
        ),
    )


def _stamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M")


def scheduled_run_note(message: InboundMessage) -> str:
    """How a CRON turn is introduced to the model: a scheduled run of a
    named job, not something the user just wrote."""
    job = message.scheduled
    named = "a scheduled job" if job is None else f"scheduled job {job.name!r} (id {job.job_id})"
    return (
        f"[This is a scheduled run of {named}, not a message from the user. Do what "
        f"the job asks; your reply is sent to this chat. Scheduled jobs cannot be "
        f"added, changed or removed during a scheduled run.]"
    )


def end_unanswered(message: InboundMessage, why: str) -> None:
    """Tell the scheduler waiting on a CRON `message` that no turn answers it
    (`why`: log-safe); nothing for any other message."""
    if message.scheduled is not None:
        message.scheduled.finish(
            OutboundMessage(
                channel=message.channel,
                chat_id=message.chat_id,
                content="",
                final=True,
                is_error=True,
                failure=why,
            )
        )


def _user_text(message: InboundMessage) -> str:
    if message.kind is InboundKind.SUBAGENT:
        return f"[A background task finished; tell the user about its result.]\n{message.content}"
    if message.kind is InboundKind.CRON:
        return f"{scheduled_run_note(message)}\n{message.content}"
    notes = [_attachment_note(attachment) for attachment in message.attachments]
    if message.is_group and message.sender_name:
        notes.insert(0, f"[{message.sender_name} in a group chat]")
    return "\n".join([*notes, message.content]) if notes else message.content


def _attachment_note(attachment: Attachment) -> str:
    """How the model learns of a file that came with a message: where it was
    saved, and for a voice note its transcript or that there is none."""
    saved = f"saved in the workspace at {attachment.path}"
    if attachment.kind is not AttachmentKind.VOICE:
        return f"[{attachment.kind.value} received, {saved}]"
    if attachment.transcript is None:
        return f"[voice note received, {saved}; it could not be transcribed]"
    return f"[voice note, transcribed]: {attachment.transcript}"


@attrs.define(kw_only=True, eq=False)
class SessionActor:
    """The agent actor of conversation `channel:chat_id` (see the module docstring).

    `inbox` is this actor's mailbox (it closes it on exit); `self_send` a send
    clone of the same mailbox, used to post subagent results back in order;
    `limits` the session's rate buckets (from the router's `SessionLimitsKeeper`).
    """

    channel: str
    chat_id: str
    deps: AgentDeps
    inbox: trio.MemoryReceiveChannel[InboundMessage]
    self_send: trio.MemorySendChannel[InboundMessage]
    limits: SessionLimits
    stopping: trio.Event = attrs.field(factory=trio.Event)

    _loaded: bool = attrs.field(init=False, default=False)
    # The active history (sent to the model) and how many journal messages
    # before it were consolidated: `_history[i]` is journal message `_upto + i`.
    _history: list[ChatMessage] = attrs.field(init=False, factory=list)
    _upto: int = attrs.field(init=False, default=0)
    _governor: SessionGovernor = attrs.field(init=False)
    _loop: AgentLoop = attrs.field(init=False)
    _log: Logger = attrs.field(init=False)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _receive_scope: trio.CancelScope | None = attrs.field(init=False, default=None)
    _subagents: int = attrs.field(init=False, default=0)
    _consolidating: bool = attrs.field(init=False, default=False)
    # The message whose turn runs: its reply quotes it and completes its journal entry.
    _current: InboundMessage | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._log = self.deps.logger.child(f"agent:{self.key}")
        self._governor = SessionGovernor(
            limits=self.limits,
            budget=DailyBudget(self.deps.defaults.budget.session_daily_tokens),
            shared=self.deps.shared,
            wall_clock=self.deps.wall_clock,
        )
        self._loop = self.deps.session_loop

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.chat_id}"

    def _ctx(
        self, logger: Logger, *, subagent: bool = False, scheduled_job: str | None = None
    ) -> ToolContext:
        return ToolContext(
            session_key=self.key,
            channel=self.channel,
            chat_id=self.chat_id,
            workspace=self.deps.workspace,
            logger=logger,
            launcher=None if subagent else self,
            scheduled_job=scheduled_job,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.inbox, self.self_send:
            try:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    watcher = trio.CancelScope()
                    nursery.start_soon(self._watch_stopping, watcher)
                    task_status.started()
                    await self._serve()
                    watcher.cancel("agent actor finished serving")
            except Exception as exc:
                self._log.error("Session actor crashed", exc=exc, session=self.key)
                unread = self._drain_unread()
                apology = self._reply(
                    crash_apology(unread), is_error=True, failure=journal_failure(exc)
                )
                with trio.move_on_after(APOLOGY_SEND_TIMEOUT):
                    await self.deps.outbound.send(apology)
                if self._current is not None and self._current.scheduled is not None:
                    self._current.scheduled.finish(apology)
                raise
            finally:
                self._nursery = None
                self._abandon_queued()

    def _drain_unread(self) -> int:
        """Empty and close the mailbox of a crashed actor (its messages die
        with it); returns how many of them were the user's. Closed at once, so
        a message sent while the apology waits finds the mailbox broken and
        the router starts a fresh actor for it."""
        unread = 0
        while True:
            try:
                message = self.inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if message.kind is InboundKind.USER:
                unread += 1
            end_unanswered(message, "the session crashed before this run started")
        self.inbox.close()
        if unread:
            self._log.warn("Messages dropped with the crashed session actor", unread=unread)
        return unread

    def _abandon_queued(self) -> None:
        """On the way out (no await from here until the mailbox closes): the
        messages still queued die with this actor (a user's stays in its
        channel's journal and is replayed); a scheduled run among them is
        reported as not run."""
        while True:
            try:
                message = self.inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            end_unanswered(message, "the session stopped before this run started")

    async def _watch_stopping(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.stopping.wait()
            if self._receive_scope is not None:
                self._receive_scope.cancel("agent actor asked to stop")

    def _apply_loaded(self, loaded: LoadedSession) -> None:
        self._loaded = True
        self._upto = loaded.consolidated_upto
        self._history = list(loaded.messages[self._upto :])
        today = utc_day(self.deps.wall_clock())
        self._governor.budget.day = today
        self._governor.budget.used = loaded.tokens_by_day.get(today, 0)
        if loaded.damaged:
            self._log.warn(
                "Session journal repaired on load",
                session=self.key,
                torn_line_dropped=loaded.repaired,
                skipped_lines=loaded.skipped,
                unanswered_tool_calls=loaded.answered_calls,
                orphan_tool_results=loaded.dropped_results,
            )

    async def _next_message(self) -> InboundMessage | None:
        """The next message, or None when idle (mailbox then closed) or stopping."""
        idle = self.deps.defaults.idle_timeout_seconds
        while not self.stopping.is_set():
            with trio.move_on_after(idle) as scope:
                self._receive_scope = scope
                try:
                    return await self.inbox.receive()
                except trio.EndOfChannel:
                    return None
                finally:
                    self._receive_scope = None
            if self.stopping.is_set():
                return None
            if self._subagents or self._consolidating:
                continue  # not idle while background work runs or will report back
            try:
                return self.inbox.receive_nowait()
            except trio.WouldBlock:
                self.inbox.close()  # no await since the check: nothing can be stranded
                self._log.debug("Idle session stopped")
                return None
        return None

    async def _serve(self) -> None:
        while (message := await self._next_message()) is not None:
            if message.kind is InboundKind.RESET:
                await self._reset()
                continue
            self._current = message
            await self._handle(message)
            self._current = None

    async def _reset(self) -> None:
        """A new conversation: the journal is archived (not deleted), the history emptied."""
        stamp = datetime.datetime.fromtimestamp(self.deps.wall_clock(), datetime.UTC)
        archived = await self.deps.disk(
            self.deps.journal.archive, self.key, stamp.strftime("%Y%m%dT%H%M%S")
        )
        self._history, self._upto, self._loaded = [], 0, True
        self._log.info("Conversation reset", session=self.key, archived=archived)

    def _reply(self, text: str, *, is_error: bool, failure: str | None = None) -> OutboundMessage:
        """A turn's final reply (an apology when `is_error`, with its log-safe
        `failure`), placed after the message it answers (group reply, forum
        topic) and completing that message's inbound journal entry."""
        answered = self._current
        return OutboundMessage(
            channel=self.channel,
            chat_id=self.chat_id,
            content=text,
            final=True,
            is_error=is_error,
            failure=failure,
            reply_to_id=answered.message_id if answered and answered.is_group else None,
            thread_id=answered.thread_id if answered else None,
            completes=(answered.journal_id,) if answered and answered.journal_id else (),
        )

    async def _handle(self, message: InboundMessage) -> None:
        """One turn (see the module docstring). The user message is written
        while the LLM works, and the reply is sent only once the whole turn,
        user message included, is fsync-ed; a journal failure crashes the
        actor (a failed user-message write also cancels the turn)."""
        user = ChatMessage(role=Role.USER, content=_user_text(message))
        if not self._loaded:
            known = self.deps.journal.may_exist(self.key)
            self._apply_loaded(
                await self.deps.disk(self.deps.journal.load, self.key) if known else LoadedSession()
            )
        system = await self.deps.prompts.current(self.deps.disk)
        # A replayed message (a crash cut its turn short after its user message was
        # journaled) is already the last thing in the history: not appended again.
        replayed = (
            message.journal_id is not None
            and bool(self._history)
            and self._history[-1].role is Role.USER
            and self._history[-1].content == user.content
        )
        if not replayed:
            self._history.append(user)
        trimmed = self._enforce_history_cap()
        shown = await self._with_images(user, message)
        async with trio.open_nursery() as turn:
            if not replayed:
                turn.start_soon(self._write_user_message, user)
            outcome = await self._loop.run_turn(
                system=system,
                history=[*self._history[:-1], shown],
                ctx=self._ctx(
                    self._log,
                    scheduled_job=None if message.scheduled is None else message.scheduled.job_id,
                ),
                governor=self._governor,
            )
        self._history.extend(outcome.messages)
        # Never empty (a turn ends with an assistant message), so this append
        # always syncs, the user message with it.
        entries = [encode_message(m) for m in outcome.messages]
        entries += [usage_entry(day, tokens) for day, tokens in outcome.spent]
        entries += trimmed
        await self.deps.disk(self.deps.journal.append, self.key, entries)
        reply = self._reply(outcome.reply, is_error=outcome.failed, failure=outcome.failure)
        await self.deps.outbound.send(reply)
        if message.scheduled is not None:
            refused = outcome.refused
            ended = (
                reply if refused is None else attrs.evolve(reply, is_error=True, failure=refused)
            )
            message.scheduled.finish(ended)
        self._maybe_consolidate()

    async def _with_images(self, user: ChatMessage, message: InboundMessage) -> ChatMessage:
        """`user` as this turn's requests show it: with the message's photos as
        images when the model accepts them (`agents.defaults.vision`), read
        from the workspace now; a photo that cannot be shown gets a note
        instead (and a WARN). The history and the journal keep `user`: the
        images are never stored, only re-read for the turn they came with."""
        photos = [a for a in message.attachments if a.kind is AttachmentKind.PHOTO]
        if not photos or not accepts_images(self._loop.settings.model, self.deps.defaults.vision):
            return user
        loaded = await self.deps.disk(load_turn_images, self.deps.workspace, photos)
        for skipped in loaded.skipped:
            self._log.warn("Photo not shown to the model", path=skipped.path, reason=skipped.reason)
        notes = [skipped.note for skipped in loaded.skipped]
        content = "\n".join([*notes, user.content]) if notes else user.content
        return attrs.evolve(user, content=content, images=loaded.images)

    async def _write_user_message(self, user: ChatMessage) -> None:
        """Append `user` to the journal without fsync (see `SessionJournal.append`)."""
        append_unsynced = functools.partial(self.deps.journal.append, sync=False)
        await self.deps.background(append_unsynced, self.key, [encode_message(user)])

    def _fold(self, upto: int) -> None:
        """Journal messages before `upto` leave the active history (no-op if
        they already did: a trim may overtake a running consolidation)."""
        del self._history[: max(0, upto - self._upto)]
        self._upto = max(self._upto, upto)

    def _enforce_history_cap(self) -> list[dict[str, Any]]:
        """Drop the oldest active messages unconsolidated when the history passed
        its hard cap; returns the journal entry recording it (or nothing)."""
        window = self.deps.defaults.memory_window
        if len(self._history) <= HISTORY_CAP_WINDOWS * window:
            return []
        cut = consolidation_cut(self._history, 0, window)
        if cut is None:
            return []
        self._log.warn(
            "History over its hard cap: oldest messages dropped from the context "
            "without consolidation (is memory consolidation failing?)",
            session=self.key,
            dropped=cut,
            cap=HISTORY_CAP_WINDOWS * window,
        )
        self._fold(self._upto + cut)
        return [consolidated_entry(self._upto, trimmed=True)]

    # ---- memory consolidation (background, never blocks a reply) -----------------------

    def _maybe_consolidate(self) -> None:
        if self._consolidating or self._nursery is None:
            return
        cut = consolidation_cut(self._history, 0, self.deps.defaults.memory_window)
        if cut is None:
            return
        self._consolidating = True
        self._nursery.start_soon(self._consolidate, self._upto, self._history[:cut])

    async def _consolidate(self, start: int, excerpt: list[ChatMessage]) -> None:
        """Fold `excerpt` (journal messages from `start`) into the memory files."""
        try:
            refusal = self._governor.admit()
            if refusal is not None:
                self._log.warn("Memory consolidation postponed", reason=refusal.reason)
                return
            current = await self.deps.background(
                read_workspace_text, self.deps.workspace, MEMORY_FILE
            )
            request = consolidation_request(
                model=self._loop.settings.model,
                current_memory=current or "",
                excerpt=excerpt,
                max_tokens=self._loop.settings.max_tokens,
            )
            response = await self._loop.provider.complete(request)
            day, tokens = self._governor.spend(
                response.usage, self._log, session=self.key, model=request.model
            )
            result = parse_consolidation(response.text)
            stamp = _stamp(self.deps.wall_clock())
            await self.deps.background(write_memory, self.deps.workspace, result, stamp)
            cut = start + len(excerpt)
            entries = [usage_entry(day, tokens), consolidated_entry(cut)]
            await self.deps.background(self.deps.journal.append, self.key, entries)
            self._fold(cut)
            self._log.info("Memory consolidated", messages=cut)
        except Exception as exc:  # noqa: BLE001 -- background work: logged, retried after a later turn
            self._log.error("Memory consolidation failed", exc=exc)
        finally:
            self._consolidating = False

    # ---- subagents (SubagentLauncher) ---------------------------------------------------

    def launch(self, task: str, label: str) -> str | None:
        """Start a subagent in this actor's nursery, or say why not."""
        if self._nursery is None:
            return "This conversation is shutting down; background tasks are unavailable."
        if self._subagents >= MAX_SUBAGENTS:
            return f"At most {MAX_SUBAGENTS} background tasks may run at once; wait for one."
        self._subagents += 1
        self._nursery.start_soon(self._run_subagent, task, label)
        return None

    async def _run_subagent(self, task: str, label: str) -> None:
        log = self._log.child(f"agent:{self.key}:sub")
        try:
            settings = attrs.evolve(
                self._loop.settings,
                max_tool_iterations=min(
                    SUBAGENT_ITERATIONS, self._loop.settings.max_tool_iterations
                ),
            )
            loop = attrs.evolve(
                self.deps.loop,
                registry=self.deps.loop.registry.without(SUBAGENT_EXCLUDED_TOOLS),
                settings=settings,
            )
            outcome = await loop.run_turn(
                system=SUBAGENT_SYSTEM,
                history=[ChatMessage(role=Role.USER, content=task)],
                ctx=self._ctx(log, subagent=True),
                governor=self._governor,
            )
            usage = [usage_entry(day, tokens) for day, tokens in outcome.spent]
            await self.deps.background(self.deps.journal.append, self.key, usage)
            report = InboundMessage(
                channel=self.channel,
                chat_id=self.chat_id,
                content=f"Task {label!r}: {outcome.reply}",
                kind=InboundKind.SUBAGENT,
            )
            await self.self_send.send(report)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            log.warn("Subagent result dropped: the session stopped", label=label)
        except Exception as exc:  # noqa: BLE001 -- a background failure must not kill the session
            log.error("Subagent failed", exc=exc, label=label)
        finally:
            self._subagents -= 1
