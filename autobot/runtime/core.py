"""The supervision engine shared by `Supervisor` and `DynamicSupervisor`.

`SupervisorBase.run` owns exactly one nursery. Every incarnation of every child runs
in its own runner task in that nursery, inside a cancel scope of its own, and reports
how it ended through an internal channel; the supervisor's own task reads those
reports and alone decides on restarts, so decisions never race each other.

Failure handling: an error is caught with `except* Exception`, so `trio.Cancelled`,
KeyboardInterrupt and SystemExit always propagate. An exit after the supervisor asked
a child to stop (shutdown, sibling restart, `stop_child`) is never a failure.
Environmental failures wait `backoff.cooldown` and do not count toward intensity;
everything else counts, waits an exponential full-jitter backoff, and once intensity
is exceeded the supervisor stops its remaining children and raises `SupervisorGaveUp`.

A child that will never run again (a transient that returned, a temporary that ended,
a final stop) is retired: its mailbox closes and no group restart starts it again.

Stopping: a stop request is honoured whatever the supervisor is doing. A child still
starting is asked to stop and cancelled after its grace; a pending restart is dropped;
once a stop is requested nothing restarts and nothing escalates.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs
import trio

from autobot.runtime.backoff import BackoffPolicy, attempt_after, backoff_delay
from autobot.runtime.child import (
    ChildSlot,
    Exited,
    Incarnation,
    StartFailure,
    StartGuard,
    StopRequested,
)
from autobot.runtime.events import EventKind, OnEvent, SupervisorEvent, ignore_event
from autobot.runtime.failures import (
    ChildFailure,
    ChildStartFailed,
    IsEnvironmental,
    MailboxUnavailable,
    SupervisorGaveUp,
    UnknownChild,
    is_environmental,
)
from autobot.runtime.intensity import RestartIntensity, RestartWindow
from autobot.runtime.policy import should_restart
from autobot.runtime.spec import Actor, ChildEnv, Restart
from autobot.runtime.stats import SupervisorStats

_Report = Exited | StopRequested


@attrs.define(kw_only=True, eq=False)
class SupervisorBase:
    """Fields and engine common to both supervisor kinds; not used directly.

    `stopping` is the graceful-stop signal: `stop()` sets it, and a parent supervisor
    passes its `ChildEnv.stopping` here so that nested supervisors stop in order.
    `on_event` must not block or raise (an exception in it crashes the supervisor).
    A supervisor runs once; build a fresh one per incarnation.
    """

    name: str = "supervisor"
    intensity: RestartIntensity = attrs.field(factory=RestartIntensity)
    backoff: BackoffPolicy = attrs.field(factory=BackoffPolicy)
    rng: random.Random = attrs.field(factory=random.Random)
    is_environmental: IsEnvironmental = is_environmental
    on_event: OnEvent = ignore_event
    stopping: trio.Event = attrs.field(factory=trio.Event)

    _slots: dict[str, ChildSlot] = attrs.field(init=False, factory=dict)
    _window: RestartWindow[ChildFailure] = attrs.field(init=False)
    _total_restarts: int = attrs.field(init=False, default=0)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _reports: trio.MemorySendChannel[_Report] | None = attrs.field(init=False, default=None)
    _ran: bool = attrs.field(init=False, default=False)

    @_window.default
    def _empty_window(self) -> RestartWindow[ChildFailure]:
        return RestartWindow(self.intensity)

    # ---- public API -----------------------------------------------------------------

    def stop(self) -> None:
        """Ask for a graceful stop: children are stopped in reverse start order."""
        self.stopping.set()

    def mailbox(self, child_id: str) -> trio.MemorySendChannel[Any]:
        """A send clone (owned by the caller) of the child's mailbox; survives restarts.

        Raises UnknownChild for an unknown id, MailboxUnavailable if the child has no
        mailbox or it is closed because the child was stopped for good.
        """
        slot = self._slot(child_id)
        if slot.mailbox is None:
            raise MailboxUnavailable(f"child {child_id!r} has no mailbox (mailbox_size is None)")
        return slot.mailbox.sender()

    def statistics(self) -> SupervisorStats:
        """A frozen snapshot: per child restarts, running, last failure, backlog."""
        return SupervisorStats(
            name=self.name,
            total_restarts=self._total_restarts,
            children=tuple(slot.stats() for slot in self._slots.values()),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the children in order, then supervise them until stopped.

        Ready (task_status.started) once every initial child is up, or once a stop
        request cut the start-up short (children not yet started are skipped, the one
        starting is stopped). Returns normally after a graceful stop. Raises
        ChildStartFailed (before ready) if an initial child fails to start,
        SupervisorGaveUp when restart intensity is exceeded, and RuntimeError if this
        supervisor already ran.
        """
        if self._ran:
            raise RuntimeError(f"supervisor {self.name!r} already ran; build a fresh one")
        self._ran = True
        escalate: Exception | None = None
        # Unbounded on purpose (a documented cycle): a runner reports its exit while the
        # supervisor may itself be waiting for children to stop, so a report must never
        # block. At most one report per live incarnation plus one stop notice is pending.
        reports_send, reports_receive = trio.open_memory_channel[_Report](math.inf)
        with reports_send, reports_receive:
            self._reports = reports_send
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._watch_stopping)
                escalate = await self._start_initial()
                if escalate is None:
                    task_status.started()
                    try:
                        await self._supervise(reports_receive)
                    except SupervisorGaveUp as exc:
                        escalate = exc
                await self._shutdown()
                nursery.cancel_scope.cancel(f"supervisor {self.name!r} finished")
            self._nursery = None
        if escalate is not None:
            raise escalate

    # ---- engine ---------------------------------------------------------------------

    def _slot(self, child_id: str) -> ChildSlot:
        try:
            return self._slots[child_id]
        except KeyError:
            raise UnknownChild(f"supervisor {self.name!r} has no child {child_id!r}") from None

    def _emit(self, kind: EventKind, slot: ChildSlot | None = None, **details: Any) -> None:
        self.on_event(
            SupervisorEvent(
                supervisor=self.name,
                kind=kind,
                time=trio.current_time(),
                child_id=None if slot is None else slot.spec.id,
                **details,
            )
        )

    def _restart_group(self, slot: ChildSlot) -> list[ChildSlot]:
        """Children restarted together with `slot`, in start order (one_for_one here)."""
        return [slot]

    def _retire(self, slot: ChildSlot) -> None:
        """`slot` will never run again: mark it retired and close its mailbox."""
        slot.retired = True
        slot.due = None
        if slot.mailbox is not None:
            slot.mailbox.close()

    async def _watch_stopping(self) -> None:
        """On a stop request: stop every incarnation still starting (asked now,
        cancelled after its grace, whoever is waiting for its start-up: the
        supervisor's own task or a `start_child` caller), then tell the
        supervisor's task, which stops the rest in reverse start order."""
        await self.stopping.wait()
        assert self._nursery is not None and self._reports is not None
        for slot in self._slots.values():
            starting = slot.current
            if starting is not None and starting.started_at is None and not starting.done.is_set():
                self._nursery.start_soon(self._stop_incarnation, slot, starting)
        self._reports.send_nowait(StopRequested())

    async def _start_initial(self) -> ChildStartFailed | None:
        """Start every slot in order, until a stop is requested.

        The first start-up failure is returned, not raised; a start-up cut short by a
        stop request is no failure.
        """
        for slot in list(self._slots.values()):
            if self.stopping.is_set():
                return None
            failure = await self._start_slot(slot)
            if failure is not None and not failure.stopped:
                return ChildStartFailed(self.name, slot.spec.id, failure.error)
        return None

    async def _start_slot(self, slot: ChildSlot) -> StartFailure | None:
        """Build and start a new incarnation of `slot`; None once it is up.

        A stop request during the start-up (the supervisor's, or `_stop_slot`) is
        reported as STOPPED and returned as a `stopped` StartFailure, never a failure.
        """
        assert not slot.retired, f"child {slot.spec.id!r} is retired"
        number = slot.incarnations
        slot.incarnations += 1
        slot.due = None
        if number > 0:
            slot.restarts += 1
            self._total_restarts += 1
        inbox = None if slot.mailbox is None else slot.mailbox.inbox()
        env = ChildEnv(
            child_id=slot.spec.id, incarnation=number, inbox=inbox, stopping=trio.Event()
        )
        incarnation = Incarnation(env=env)
        try:
            actor = slot.spec.factory(env)
        except Exception as exc:  # noqa: BLE001 - a factory error is a start-up failure
            if inbox is not None:
                inbox.close()
            failure: StartFailure | None = StartFailure(exc)
        else:
            slot.current = incarnation
            assert self._nursery is not None
            failure = await self._nursery.start(self._run_incarnation, slot, incarnation, actor)
        if failure is None:
            self._emit(EventKind.STARTED, slot)
            return None
        if slot.current is incarnation:
            slot.current = None
        if failure.stopped:
            self._emit(EventKind.STOPPED, slot)
            return failure
        error = None if failure.error is None else repr(failure.error)
        if error is not None:
            slot.last_failure = error
        self._emit(EventKind.FAILED, slot, error=error)
        return failure

    async def _run_incarnation(
        self,
        slot: ChildSlot,
        incarnation: Incarnation,
        actor: Actor,
        *,
        task_status: trio.TaskStatus[StartFailure | None],
    ) -> None:
        guard = StartGuard(incarnation, task_status)
        error: BaseException | None = None
        try:
            try:
                with incarnation.scope:
                    await actor.run(task_status=guard)
            except* Exception as group:  # noqa: BLE001 - supervising means catching failures
                error = group.exceptions[0] if len(group.exceptions) == 1 else group
            if not guard.called:
                task_status.started(StartFailure(error, stopped=incarnation.stop_requested))
            else:
                assert self._reports is not None
                self._reports.send_nowait(Exited(slot, incarnation, error))
        finally:
            if incarnation.env.inbox is not None:
                incarnation.env.inbox.close()
            incarnation.done.set()

    async def _supervise(self, reports: trio.MemoryReceiveChannel[_Report]) -> None:
        """Handle exits and due restarts until `stopping` is set. Raises SupervisorGaveUp."""
        while not self.stopping.is_set():
            report: _Report | None = None
            with trio.move_on_at(self._next_due()):
                report = await reports.receive()
            if isinstance(report, Exited):
                await self._handle_exit(report)
            await self._start_due()

    def _next_due(self) -> float:
        return min(
            (slot.due for slot in self._slots.values() if slot.due is not None), default=math.inf
        )

    async def _handle_exit(self, report: Exited) -> None:
        slot, incarnation = report.slot, report.incarnation
        if report.error is not None:
            slot.last_failure = repr(report.error)
        if incarnation.stop_requested or slot.current is not incarnation:
            return  # a stop we asked for is never a failure
        slot.current = None
        assert incarnation.started_at is not None
        uptime = trio.current_time() - incarnation.started_at
        failed = report.error is not None
        self._emit(
            EventKind.FAILED if failed else EventKind.EXITED,
            slot,
            error=slot.last_failure if failed else None,
        )
        await self._after_end(slot, report.error, uptime)

    async def _after_end(self, slot: ChildSlot, error: BaseException | None, uptime: float) -> None:
        """Retire `slot` or schedule its restart (with its group). Raises SupervisorGaveUp.

        Does nothing once a stop is requested: the shutdown stops and retires everyone.
        """
        if self.stopping.is_set():
            return
        if not should_restart(slot.spec.restart, failed=error is not None):
            self._retire(slot)
            return
        environmental = error is not None and self.is_environmental(error)
        if environmental:
            delay = self.backoff.cooldown
        else:
            now = trio.current_time()
            self._window = self._window.record(
                now, ChildFailure(time=now, child_id=slot.spec.id, error=error)
            )
            if self._window.exceeded:
                self._emit(EventKind.GAVE_UP, slot, error=None if error is None else repr(error))
                raise SupervisorGaveUp(
                    self.name, tuple(entry for _, entry in self._window.entries)
                ) from error
            slot.attempt = attempt_after(slot.attempt, uptime, self.backoff.healthy_after)
            delay = backoff_delay(slot.attempt, self.backoff.base, self.backoff.cap, self.rng)
            slot.attempt += 1
        group = [member for member in self._restart_group(slot) if not member.retired]
        for sibling in reversed(group):
            if sibling is not slot:
                await self._stop_slot(sibling, final=sibling.spec.restart is Restart.TEMPORARY)
        due = trio.current_time() + delay
        for member in group:
            if not member.retired:  # a temporary sibling was just retired: dropped
                member.due = due
        self._emit(EventKind.RESTARTING, slot, delay=delay, environmental=environmental)

    async def _start_due(self) -> None:
        """Start, in start order, every child whose restart is due (unless stopping)."""
        while not self.stopping.is_set():
            now = trio.current_time()
            slot = next(
                (s for s in self._slots.values() if s.due is not None and s.due <= now), None
            )
            if slot is None:
                return
            failure = await self._start_slot(slot)
            if failure is None or failure.stopped:
                continue  # up, or stopped for good (stop_child) while starting
            error = failure.error
            if error is None:
                error = ChildStartFailed(self.name, slot.spec.id, None)
            await self._after_end(slot, error, uptime=0.0)

    async def _stop_slot(self, slot: ChildSlot, *, final: bool) -> None:
        """Stop the child's incarnation (if any) and drop a pending restart; retire it if `final`.

        A started incarnation is reported STOPPED here, one still starting by `_start_slot`.
        """
        incarnation = slot.current
        slot.due = None
        if incarnation is not None:
            if final and slot.mailbox is not None:
                slot.mailbox.stop_accepting()
            await self._stop_incarnation(slot, incarnation)
            if slot.current is incarnation:
                slot.current = None
                if incarnation.started_at is not None:
                    self._emit(EventKind.STOPPED, slot)
        if final:
            self._retire(slot)

    async def _stop_incarnation(self, slot: ChildSlot, incarnation: Incarnation) -> None:
        """Ask the incarnation to stop, wait for it until its deadline, then cancel it.

        The deadline is fixed by the first request (request time + grace), so concurrent
        or repeated requests never extend it.
        """
        if incarnation.stop_deadline is None:
            incarnation.stop_deadline = trio.current_time() + slot.spec.shutdown_grace
        incarnation.env.stopping.set()
        with trio.move_on_at(incarnation.stop_deadline):
            await incarnation.done.wait()
        if not incarnation.done.is_set():
            incarnation.scope.cancel(
                f"child {slot.spec.id!r} did not stop within {slot.spec.shutdown_grace}s"
            )
            await incarnation.done.wait()

    async def _shutdown(self) -> None:
        """Stop every child for good, in reverse start order."""
        for slot in reversed(list(self._slots.values())):
            await self._stop_slot(slot, final=True)
