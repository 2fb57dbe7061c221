"""Lifecycle events a supervisor reports through its injected `on_event` callback.

The kernel imports no logging: the gateway passes a callback that logs these.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs


class EventKind(enum.Enum):
    """What happened to a child (or, for GAVE_UP, to the supervisor)."""

    STARTED = "started"
    EXITED = "exited"  # returned on its own
    FAILED = "failed"  # raised, or failed during start-up
    STOPPED = "stopped"  # stopped by its supervisor (shutdown, sibling restart, stop_child)
    RESTARTING = "restarting"  # a restart is scheduled after `delay` seconds
    GAVE_UP = "gave_up"  # restart intensity exceeded


@attrs.frozen(kw_only=True)
class SupervisorEvent:
    """One lifecycle event. `time` is `trio.current_time()`; `error` is a repr string."""

    supervisor: str
    kind: EventKind
    time: float
    child_id: str | None = None
    error: str | None = None
    delay: float | None = None
    environmental: bool = False


OnEvent = Callable[[SupervisorEvent], None]


def ignore_event(event: SupervisorEvent) -> None:
    """The default `on_event`: do nothing."""
