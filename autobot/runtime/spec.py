"""What a supervisor is told about each child: `ChildSpec`, `ChildEnv` and the `Actor` shape.

A `ChildSpec` is an immutable recipe. Its `factory` builds a fresh actor for every
incarnation from a `ChildEnv`, so no state leaks from a crashed incarnation into the
next one. An actor is any object with
`async def run(self, *, task_status=trio.TASK_STATUS_IGNORED)` that calls
`task_status.started()` once it is truly ready.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio


class Restart(enum.Enum):
    """When a child that ended on its own is started again.

    PERMANENT: always (after an error or a normal return).
    TRANSIENT: only after an error.
    TEMPORARY: never.
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class Strategy(enum.Enum):
    """Which siblings are restarted together with a failed child.

    ONE_FOR_ONE: only the failed child.
    ONE_FOR_ALL: every child (the others are stopped first, in reverse start order).
    REST_FOR_ONE: the failed child and every child started after it.
    """

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class Actor(Protocol):
    """Anything a supervisor can run: one `run` coroutine that reports readiness."""

    async def run(self, *, task_status: trio.TaskStatus[None] = ...) -> None: ...


@attrs.frozen(kw_only=True)
class ChildEnv:
    """What one incarnation of a child receives from its supervisor.

    `inbox` is this incarnation's own clone of the receive side of the mailbox the
    supervisor owns (None when the spec has no `mailbox_size`); the supervisor closes
    the clone when the incarnation ends, so the actor need not. `stopping` is set when
    the supervisor asks this incarnation to finish gracefully; after the child's
    `shutdown_grace` it is cancelled instead. `incarnation` counts from 0.
    """

    child_id: str
    incarnation: int
    inbox: trio.MemoryReceiveChannel[Any] | None
    stopping: trio.Event


ActorFactory = Callable[[ChildEnv], Actor]


def _check_id(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not value or not value.strip():
        raise ValueError("child id must be a non-empty string")


def _check_grace(_: object, __: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"shutdown_grace must be a finite number >= 0, got {value!r}")


def _check_mailbox(_: object, __: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"mailbox_size must be None or an int >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class ChildSpec:
    """How to build, restart and stop one child.

    `mailbox_size` (when set) makes the supervisor own a memory channel of that size
    for the child; senders obtained from `mailbox(id)` keep working across restarts.
    Raises ValueError on an empty id, a negative or non-finite grace, or a bad size.
    """

    id: str = attrs.field(validator=_check_id)
    factory: ActorFactory
    restart: Restart = Restart.PERMANENT
    shutdown_grace: float = attrs.field(default=5.0, validator=_check_grace)
    mailbox_size: int | None = attrs.field(default=None, validator=_check_mailbox)
