"""Failure classes and the exceptions a supervisor raises.

Environmental failures (a chat network down, DNS failing) are retried after a
cool-down and never count toward restart intensity; everything else is treated as a
local bug that counts and eventually escalates.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import attrs


class EnvironmentalFailure(Exception):
    """Base class for failures caused by the outside world, not by our code.

    Raise (or wrap into) a subclass from an actor to get "cool down and retry".
    """


IsEnvironmental = Callable[[BaseException], bool]

# Network-level trouble only: FileNotFoundError or PermissionError are OSErrors too,
# but they mean a local misconfiguration that must escalate, not be retried forever.
_ENVIRONMENTAL_TYPES: tuple[type[BaseException], ...] = (
    EnvironmentalFailure,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)


def is_environmental(exc: BaseException) -> bool:
    """Default classifier: network errors and `EnvironmentalFailure`.

    A group is environmental only if every exception in it is.
    """
    if isinstance(exc, BaseExceptionGroup):
        return all(is_environmental(inner) for inner in exc.exceptions)
    return isinstance(exc, _ENVIRONMENTAL_TYPES)


@attrs.frozen(kw_only=True)
class ChildFailure:
    """One counted restart: when, which child, and why (None: it returned normally)."""

    time: float
    child_id: str
    error: BaseException | None

    def describe(self) -> str:
        """`child_id: repr(error)`, or a note that the child returned."""
        reason = "returned" if self.error is None else repr(self.error)
        return f"{self.child_id}: {reason}"


class SupervisorGaveUp(Exception):
    """Restart intensity exceeded: the supervisor stopped its children and escalates.

    `failures` are the restarts inside the intensity period, oldest first; the last
    failure's error (if any) is also the `__cause__`.
    """

    def __init__(self, supervisor: str, failures: tuple[ChildFailure, ...]) -> None:
        self.supervisor = supervisor
        self.failures = failures
        listed = "; ".join(failure.describe() for failure in failures)
        super().__init__(
            f"supervisor {supervisor!r} gave up after {len(failures)} restarts: {listed}"
        )


class ChildStartFailed(Exception):
    """A child failed, returned or was stopped before calling `task_status.started()`.

    The child's own exception, if any, is the `__cause__` and `error`.
    """

    def __init__(self, supervisor: str, child_id: str, error: BaseException | None) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.error = error
        self.__cause__ = error
        reason = (
            "ended (or was stopped) before task_status.started()" if error is None else repr(error)
        )
        super().__init__(f"supervisor {supervisor!r}: child {child_id!r} failed to start: {reason}")


class UnknownChild(LookupError):
    """No child with this id is supervised here."""


class DuplicateChild(ValueError):
    """A child with this id is already supervised here."""


class MailboxUnavailable(LookupError):
    """The child has no mailbox, or its mailbox is closed (the child is stopping)."""


class SupervisorNotRunning(RuntimeError):
    """The operation needs a running supervisor (not yet started, or stopping)."""
