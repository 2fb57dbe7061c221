"""The benchmark's table: one row per metric, autobot, the peer, their ratio, the goal (pure).

The ratio is always "how many times better autobot is" (peer / autobot for
a cost, autobot / peer for a rate), so > 1.00x means autobot is ahead
whatever the metric. Goals (issue 11): >= 5x the peer's messages per second
with a zero-latency model; 50 users with a 1 s model answered in <= 1.3 s
wall; start to first poll <= 0.75 s; RSS idle and busy below the peer's.
A goal that needs the peer says so when there is none, and the burst goal
is judged only in its own configuration (50 users, 1 s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from bench.measure import Measured, Plan

THROUGHPUT_GOAL = 5.0  # x the peer's messages per second
BURST_GOAL_SECONDS = 1.3
BURST_GOAL_USERS = 50
BURST_GOAL_LATENCY = 1.0
START_GOAL_SECONDS = 0.75
LOWER, HIGHER = "lower", "higher"
FIRST_CONTACT = {"telegram": "first getUpdates", "slack": "first socket hello"}
API_NAME = {"telegram": "Bot API", "slack": "Slack Web API"}


@attrs.frozen(kw_only=True)
class Row:
    """One metric: its values (None: not measured), which way is better, its goal."""

    label: str
    autobot: float
    peer: float | None
    better: str | None  # LOWER, HIGHER, or None for a figure without a direction
    digits: int
    goal: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better autobot is (None without a peer or a direction)."""
        if self.peer is None or self.better is None or self.autobot <= 0 or self.peer <= 0:
            return None
        return self.peer / self.autobot if self.better == LOWER else self.autobot / self.peer


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def rows(plan: Plan, autobot: Measured, peer: Measured | None) -> list[Row]:
    """The table's rows for `autobot` and, if it ran, the `peer`."""

    def row(
        label: str,
        value: Callable[[Measured], float],
        better: str | None,
        digits: int,
        goal: Callable[[Row], str] | None = None,
    ) -> Row:
        item = Row(
            label=label,
            autobot=value(autobot),
            peer=None if peer is None else value(peer),
            better=better,
            digits=digits,
        )
        return item if goal is None else attrs.evolve(item, goal=goal(item))

    load = f"{plan.users} users x {plan.messages} msgs, L=0"
    burst = f"burst {plan.users} users x 1 msg, L={plan.latency:g} s"
    return [
        row(
            f"start -> {FIRST_CONTACT[plan.channel]} (s)",
            lambda m: m.start_to_first_poll,
            LOWER,
            3,
            _start_goal,
        ),
        row(
            f"throughput (msg/s) [{load}]",
            lambda m: m.throughput.figures.throughput,
            HIGHER,
            1,
            _throughput_goal,
        ),
        row("  added latency p50 (ms)", lambda m: m.throughput.figures.added_p50 * 1e3, LOWER, 1),
        row("  added latency p99 (ms)", lambda m: m.throughput.figures.added_p99 * 1e3, LOWER, 1),
        row(
            f"{burst}: wall (s)",
            lambda m: m.burst.figures.wall,
            LOWER,
            3,
            lambda item: _burst_goal(plan, item),
        ),
        row("  added latency p50 (ms)", lambda m: m.burst.figures.added_p50 * 1e3, LOWER, 1),
        row("  added latency p99 (ms)", lambda m: m.burst.figures.added_p99 * 1e3, LOWER, 1),
        row("first reply after start (ms)", lambda m: m.warm_up.figures.added_p50 * 1e3, LOWER, 1),
        row("RSS idle, process tree (MB)", lambda m: m.idle.rss_kb / 1024, LOWER, 1, _below_goal),
        row("RSS busy, peak (MB)", lambda m: m.peak_rss_kb / 1024, LOWER, 1, _below_goal),
        row("PSS idle (MB)", lambda m: m.idle.pss_kb / 1024, LOWER, 1),
        row("PSS busy, peak (MB)", lambda m: m.peak_pss_kb / 1024, LOWER, 1),
        row("processes in the tree", lambda m: len(m.idle.pids), None, 0),
        row(
            "CPU per message (ms) [throughput round]", lambda m: cpu_per_message(m) * 1e3, LOWER, 2
        ),
        row(
            "model request per message (KB)",
            lambda m: m.model_request_bytes / m.throughput.figures.sent / 1024,
            LOWER,
            1,
        ),
        row(f"{API_NAME[plan.channel]} calls per message", bot_api_calls_per_message, LOWER, 2),
    ]


def cpu_per_message(measured: Measured) -> float:
    """Seconds of the gateway tree's CPU per message of the throughput round."""
    return measured.throughput_cpu_seconds / measured.throughput.figures.sent


def bot_api_calls_per_message(measured: Measured) -> float:
    """Bot API calls per message of the throughput round (getUpdates included)."""
    return sum(measured.throughput.calls.values()) / measured.throughput.figures.sent


def _start_goal(item: Row) -> str:
    return f"<= {START_GOAL_SECONDS} s: {_verdict(item.autobot <= START_GOAL_SECONDS)}"


def _throughput_goal(item: Row) -> str:
    if item.ratio is None:
        return f">= {THROUGHPUT_GOAL:g}x peer: needs --peer"
    return f">= {THROUGHPUT_GOAL:g}x peer: {_verdict(item.ratio >= THROUGHPUT_GOAL)}"


def _burst_goal(plan: Plan, item: Row) -> str:
    if plan.users != BURST_GOAL_USERS or plan.latency != BURST_GOAL_LATENCY:
        return f"<= {BURST_GOAL_SECONDS} s judged at {BURST_GOAL_USERS} users, L=1 s"
    return f"<= {BURST_GOAL_SECONDS} s: {_verdict(item.autobot <= BURST_GOAL_SECONDS)}"


def _below_goal(item: Row) -> str:
    if item.ratio is None:
        return "below peer: needs --peer"
    return f"below peer: {_verdict(item.ratio > 1)}"


def limits(plan: Plan, measured: Measured) -> list[str]:
    """What bounds a peer's figures, derived from what was measured."""
    cpu = cpu_per_message(measured)
    rate = measured.throughput.figures.throughput
    calls = ", ".join(
        f"{method} {count / measured.throughput.figures.sent:.2f}"
        for method, count in sorted(measured.throughput.calls.items())
    )
    model_calls = measured.model_calls / measured.throughput.figures.sent
    overhead = measured.burst.figures.wall - plan.latency
    idle = measured.idle
    rounds = (measured.warm_up, measured.throughput, measured.burst)
    extra = sum(result.unexpected_count for result in rounds)
    examples = [text for result in rounds for text in result.unexpected][:3]
    unexpected = (
        [f"it also sent {extra} messages that answer nobody, e.g. {examples!r}"] if extra else []
    )
    others = len(idle.pids) - 1
    return [
        f"idle memory: the main process {idle.root_rss_kb / 1024:.1f} MB RSS, its "
        f"{others} descendant process{'' if others == 1 else 'es'} "
        f"{(idle.rss_kb - idle.root_rss_kb) / 1024:.1f} MB RSS (PSS counts their shared pages once: "
        f"{idle.pss_kb / 1024:.1f} MB for the whole tree)",
        f"CPU: {cpu * 1e3:.2f} ms of gateway-tree CPU per message, so at most "
        f"{1 / cpu if cpu > 0 else float('inf'):.0f} msg/s on one core; it ran {rate:.1f} msg/s, "
        f"keeping {rate * cpu:.0%} of a core busy (the fakes used "
        f"{measured.fakes_cpu_seconds / measured.throughput.figures.sent * 1e3:.2f} ms per "
        "message)",
        f"per message: {bot_api_calls_per_message(measured):.2f} {API_NAME[plan.channel]} "
        f"calls ({calls}); "
        f"{model_calls:.2f} model calls, "
        f"{measured.model_request_bytes / max(1, measured.model_calls) / 1024:.1f} KB each",
        f"burst: {measured.burst.figures.wall:.3f} s wall = the model's {plan.latency:g} s + "
        f"{overhead:.3f} s of gateway and {API_NAME[plan.channel]} round trips for "
        f"{plan.users} users",
        *unexpected,
    ]


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(table: Sequence[Row], peer_name: str) -> str:
    """The rows as a fixed-width text table."""
    header = ("metric", "autobot", peer_name, "ratio", "goal")
    lines = [
        (
            item.label,
            _cell(item.autobot, item.digits),
            _cell(item.peer, item.digits),
            "-" if item.ratio is None else f"{item.ratio:.2f}x",
            item.goal,
        )
        for item in table
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def format_line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        numbers = [cell.rjust(width) for cell, width in zip(cells[1:4], widths[1:4], strict=True)]
        return "  ".join([first, *numbers, cells[4]]).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([format_line(header), rule, *(format_line(line) for line in lines)])
