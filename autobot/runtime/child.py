"""A supervisor's private bookkeeping for one child and one incarnation of it.

Nothing here is exported: `ChildSlot` is mutated only by the supervisor that owns it.
"""

from __future__ import annotations

import attrs
import trio

from autobot.runtime.mailbox import Mailbox
from autobot.runtime.spec import ChildEnv, ChildSpec
from autobot.runtime.stats import ChildStats


@attrs.define(eq=False, kw_only=True)
class Incarnation:
    """One run of a child's actor.

    `scope` is entered by the incarnation's runner task, so the supervisor can cancel
    just this child. `stop_deadline` is set when the supervisor first asks it to stop
    (the request time plus the child's grace): every exit after that is supervisor-made
    (never a failure), and every waiter cancels it at that same deadline. `started_at`
    is set when the actor calls `task_status.started()`.
    """

    env: ChildEnv
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: trio.Event = attrs.field(factory=trio.Event)
    started_at: float | None = None
    stop_deadline: float | None = None

    @property
    def stop_requested(self) -> bool:
        """True once the supervisor asked this incarnation to stop."""
        return self.stop_deadline is not None


@attrs.define(eq=False, kw_only=True)
class ChildSlot:
    """A supervised child across its incarnations.

    `current` is the live (or starting) incarnation, `due` the virtual time of a
    scheduled restart, `attempt` the backoff attempt for the next local-failure restart.
    `retired` is set once the child will never run again (a transient that returned, a
    temporary that ended, a final stop): its mailbox is closed, no restart (its own or
    its group's) starts it again.
    """

    spec: ChildSpec
    mailbox: Mailbox | None
    current: Incarnation | None = None
    due: float | None = None
    retired: bool = False
    incarnations: int = 0
    restarts: int = 0
    attempt: int = 0
    last_failure: str | None = None

    @classmethod
    def for_spec(cls, spec: ChildSpec) -> ChildSlot:
        """A fresh slot, with a mailbox when the spec asks for one."""
        mailbox = None if spec.mailbox_size is None else Mailbox(spec.id, spec.mailbox_size)
        return cls(spec=spec, mailbox=mailbox)

    @property
    def running(self) -> bool:
        """True while an incarnation has started and not yet ended."""
        return self.current is not None and self.current.started_at is not None

    def stats(self) -> ChildStats:
        """A frozen snapshot of this child."""
        return ChildStats(
            id=self.spec.id,
            restarts=self.restarts,
            running=self.running,
            last_failure=self.last_failure,
            backlog=None if self.mailbox is None else self.mailbox.backlog,
        )


@attrs.frozen
class StartFailure:
    """What a runner hands to `nursery.start` when its actor never became ready.

    `error` is None when the actor returned without calling started(); `stopped` is
    True when its supervisor asked it to stop during start-up (never a failure).
    """

    error: BaseException | None
    stopped: bool = False


@attrs.frozen
class Exited:
    """A started incarnation ended: `error` is what it raised (None: it returned)."""

    slot: ChildSlot
    incarnation: Incarnation
    error: BaseException | None


@attrs.frozen
class StopRequested:
    """The supervisor's stopping signal was set."""


class StartGuard(trio.TaskStatus[None]):
    """The `task_status` an actor sees: records readiness, then passes it on."""

    def __init__(
        self, incarnation: Incarnation, status: trio.TaskStatus[StartFailure | None]
    ) -> None:
        self._incarnation = incarnation
        self._status = status
        self.called = False

    def started(self, value: None = None) -> None:
        """Mark the incarnation up at the current time. Raises RuntimeError if called twice."""
        if self.called:
            raise RuntimeError("called 'started' twice on the same task status")
        self.called = True
        self._incarnation.started_at = trio.current_time()
        self._status.started(None)
