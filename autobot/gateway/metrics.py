"""Gateway metrics: supervisor and pool statistics as Prometheus metric families. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from autobot.agent.router import RouterStats
from autobot.channels.health import ChannelSnapshot
from autobot.http.metrics import Metric, Sample
from autobot.logs.records import DropCounter
from autobot.runtime import SupervisorStats
from autobot.sandbox.pool import PoolStatistics


def supervisor_metrics(snapshots: Iterable[SupervisorStats]) -> list[Metric]:
    """Per-child restarts, running state and mailbox backlog, per supervisor."""
    restarts: list[Sample] = []
    running: list[Sample] = []
    backlog: list[Sample] = []
    totals: list[Sample] = []
    for snapshot in snapshots:
        totals.append(Sample(labels={"supervisor": snapshot.name}, value=snapshot.total_restarts))
        for child in snapshot.children:
            labels = {"supervisor": snapshot.name, "child": child.id}
            restarts.append(Sample(labels=labels, value=child.restarts))
            running.append(Sample(labels=labels, value=1 if child.running else 0))
            if child.backlog is not None:
                backlog.append(Sample(labels=labels, value=child.backlog))
    return [
        Metric(
            name="autobot_supervisor_restarts_total",
            help="Child restarts attempted by each supervisor.",
            kind="counter",
            samples=tuple(totals),
        ),
        Metric(
            name="autobot_child_restarts_total",
            help="Restarts of each supervised child.",
            kind="counter",
            samples=tuple(restarts),
        ),
        Metric(
            name="autobot_child_running",
            help="1 while the child is running.",
            kind="gauge",
            samples=tuple(running),
        ),
        Metric(
            name="autobot_child_mailbox_backlog",
            help="Messages waiting in the child's mailbox.",
            kind="gauge",
            samples=tuple(backlog),
        ),
    ]


def pool_metrics(pool: PoolStatistics | None) -> list[Metric]:
    """Sandbox worker pool gauges and counters (nothing before the pool runs)."""
    if pool is None:
        return []
    return [
        Metric(
            name="autobot_sandbox_workers",
            help="Sandbox workers by state.",
            kind="gauge",
            samples=(
                Sample(labels={"state": "busy"}, value=pool.busy),
                Sample(labels={"state": "idle"}, value=pool.idle),
            ),
        ),
        Metric(
            name="autobot_sandbox_worker_restarts_total",
            help="Sandbox workers replaced (crash, timeout, recycling).",
            kind="counter",
            samples=(Sample(value=pool.restarts),),
        ),
        Metric(
            name="autobot_sandbox_requests_total",
            help="Requests served by sandbox workers.",
            kind="counter",
            samples=(Sample(value=pool.served),),
        ),
    ]


def log_metrics(drops: DropCounter) -> list[Metric]:
    return [
        Metric(
            name="autobot_log_records_dropped_total",
            help="Log records dropped because the log mailbox was full.",
            kind="counter",
            samples=(Sample(value=drops.dropped),),
        )
    ]


def router_metrics(router: RouterStats | None) -> list[Metric]:
    """Session counts (aggregate only: chat ids never become metric labels)."""
    if router is None:
        return []
    counters = (
        ("autobot_sessions_started_total", "Agent actors started.", router.started),
        ("autobot_sessions_crashed_total", "Agent actors that crashed.", router.crashed),
        ("autobot_sessions_exited_total", "Agent actors stopped after idling.", router.exited),
        (
            "autobot_session_busy_refusals_total",
            "Messages refused because a session's mailbox was full.",
            router.busy_refusals,
        ),
        (
            "autobot_replies_dropped_total",
            "Replies dropped because the outbox was closed or full.",
            router.dropped_replies,
        ),
    )
    return [
        Metric(
            name="autobot_sessions_active",
            help="Agent actors currently running.",
            kind="gauge",
            samples=(Sample(value=router.active_sessions),),
        ),
        *(
            Metric(name=name, help=help_text, kind="counter", samples=(Sample(value=value),))
            for name, help_text, value in counters
        ),
    ]


def channel_metrics(channels: Iterable[ChannelSnapshot]) -> list[Metric]:
    """Per-channel traffic, denials, reconnects, send failures, journal backlog and state."""
    families = (
        ("autobot_channel_messages_in_total", "Inbound messages journaled.", "counter", "messages_in"),
        ("autobot_channel_messages_out_total", "Messages delivered.", "counter", "messages_out"),
        ("autobot_channel_denied_total", "Senders refused (ACCESS DENIED).", "counter", "denied"),
        ("autobot_channel_reconnects_total", "Reconnects after network trouble.", "counter", "reconnects"),
        ("autobot_channel_send_failures_total", "Replies not delivered.", "counter", "send_failures"),
        ("autobot_channel_journal_backlog", "Journaled messages without a delivered reply.", "gauge", "journal_backlog"),
        ("autobot_channel_up", "1 while the channel is connected.", "gauge", "up"),
    )  # fmt: skip
    snapshots = list(channels)
    return [
        Metric(
            name=name,
            help=help_text,
            kind=kind,
            samples=tuple(
                Sample(labels={"channel": snap.name}, value=float(getattr(snap, field)))
                for snap in snapshots
            ),
        )
        for name, help_text, kind, field in families
    ]
