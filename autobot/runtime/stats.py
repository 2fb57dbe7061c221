"""Frozen statistics snapshots, for health checks and Prometheus metrics."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class ChildStats:
    """One child at the moment of the snapshot.

    `backlog` is the number of messages waiting in its mailbox (None: no mailbox).
    `last_failure` is the repr of the last error it raised, if any.
    """

    id: str
    restarts: int
    running: bool
    last_failure: str | None
    backlog: int | None


@attrs.frozen(kw_only=True)
class SupervisorStats:
    """A supervisor's children in start order, plus its total number of child restarts.

    A restart is counted when it is attempted, even if that start-up then fails.
    """

    name: str
    total_restarts: int
    children: tuple[ChildStats, ...]
