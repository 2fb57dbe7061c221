"""The runtime kernel: OTP-style supervision on Trio (no domain imports).

See ARCHITECTURE.md, "Supervision". Public names are re-exported here.
"""

from autobot.runtime.backoff import BackoffPolicy, attempt_after, backoff_delay
from autobot.runtime.core import SupervisorBase
from autobot.runtime.dynamic import DynamicSupervisor
from autobot.runtime.events import EventKind, OnEvent, SupervisorEvent, ignore_event
from autobot.runtime.failures import (
    ChildFailure,
    ChildStartFailed,
    DuplicateChild,
    EnvironmentalFailure,
    IsEnvironmental,
    MailboxUnavailable,
    SupervisorGaveUp,
    SupervisorNotRunning,
    UnknownChild,
    is_environmental,
)
from autobot.runtime.intensity import RestartIntensity, RestartWindow
from autobot.runtime.mailbox import Mailbox
from autobot.runtime.policy import restart_group, should_restart
from autobot.runtime.signals import SignalOutcome, run_until_signalled
from autobot.runtime.spec import Actor, ActorFactory, ChildEnv, ChildSpec, Restart, Strategy
from autobot.runtime.stats import ChildStats, SupervisorStats
from autobot.runtime.supervisor import Supervisor

__all__ = [
    "Actor",
    "ActorFactory",
    "BackoffPolicy",
    "ChildEnv",
    "ChildFailure",
    "ChildSpec",
    "ChildStartFailed",
    "ChildStats",
    "DuplicateChild",
    "DynamicSupervisor",
    "EnvironmentalFailure",
    "EventKind",
    "IsEnvironmental",
    "Mailbox",
    "MailboxUnavailable",
    "OnEvent",
    "Restart",
    "RestartIntensity",
    "RestartWindow",
    "SignalOutcome",
    "Strategy",
    "Supervisor",
    "SupervisorBase",
    "SupervisorEvent",
    "SupervisorGaveUp",
    "SupervisorNotRunning",
    "SupervisorStats",
    "UnknownChild",
    "attempt_after",
    "backoff_delay",
    "ignore_event",
    "is_environmental",
    "restart_group",
    "run_until_signalled",
    "should_restart",
]
