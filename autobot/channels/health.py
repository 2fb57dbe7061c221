"""Each channel's connection state and counters, for `/healthz` and `/metrics`.

`ChannelHealth` is written by the channel's actor (whichever incarnation
runs) and read by the HTTP actor through frozen snapshots, the way
supervisors and pools expose `statistics()`. A channel is *down* from the
first failure after it was up (or from its start) until it is up again;
`ChannelBoard.problems(now, grace)` names every enabled channel that has
been down longer than `grace` seconds, or stopped for good (a rejected
token), with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen(kw_only=True)
class ChannelSnapshot:
    """One channel at one moment."""

    name: str
    up: bool
    since: float
    reason: str
    stopped: bool
    messages_in: int
    messages_out: int
    denied: int
    reconnects: int
    send_failures: int
    journal_backlog: int


@attrs.define(kw_only=True, eq=False)
class ChannelHealth:
    """The mutable record of one channel (times are trio times)."""

    name: str
    up: bool = False
    since: float = 0.0
    reason: str = "starting"
    stopped: bool = False
    messages_in: int = 0
    messages_out: int = 0
    denied: int = 0
    reconnects: int = 0
    send_failures: int = 0
    journal_backlog: int = 0

    def mark_up(self, now: float) -> None:
        if not self.up:
            self.up, self.since, self.reason = True, now, ""

    def mark_down(self, now: float, reason: str) -> None:
        """Down since `now` unless already down (the first failure dates the outage)."""
        if self.up or self.reason == "starting":
            self.since = now
        self.up, self.reason = False, reason

    def mark_stopped(self, now: float, reason: str) -> None:
        """Stopped for good (until the operator fixes the cause and restarts)."""
        self.mark_down(now, reason)
        self.stopped = True

    def snapshot(self) -> ChannelSnapshot:
        return ChannelSnapshot(**attrs.asdict(self))


@attrs.define(kw_only=True, eq=False)
class ChannelBoard:
    """The health of every enabled channel, by name."""

    channels: dict[str, ChannelHealth] = attrs.field(factory=dict)

    @classmethod
    def for_channels(cls, names: Iterable[str], now: float) -> ChannelBoard:
        return cls(channels={name: ChannelHealth(name=name, since=now) for name in names})

    def __getitem__(self, name: str) -> ChannelHealth:
        return self.channels[name]

    def snapshots(self) -> tuple[ChannelSnapshot, ...]:
        return tuple(health.snapshot() for health in self.channels.values())

    def problems(self, now: float, grace: float) -> list[str]:
        """`name: reason` for each channel stopped, or down for more than `grace` seconds."""
        found = []
        for health in self.channels.values():
            if health.stopped or (not health.up and now - health.since > grace):
                state = "stopped" if health.stopped else f"down for {now - health.since:.0f} s"
                found.append(f"{health.name}: {state}: {health.reason}")
        return found
