"""The fake's event queues, with Zulip's rules (zerver/tornado/event_queue.py).

A queue holds events numbered from 0. `GET /events` names the last event the
client handled: the queue prunes every event up to it, and refuses an id
older than what it already pruned ("An event newer than N has already been
pruned!") or one that was never in it ("Event N was not in this queue").
An empty queue makes the poll wait; after `heartbeat_seconds` without an
event the server queues a heartbeat and answers with it. A queue nobody
polled for `timeout` seconds is collected; polling it then answers
`BAD_EVENT_QUEUE_ID`.
"""

from __future__ import annotations

import collections
from typing import Any

import attrs


class QueueRefusal(Exception):
    """A poll the queue refuses with a 400 BAD_REQUEST (`str()` is Zulip's message)."""


@attrs.define(kw_only=True, eq=False)
class FakeEventQueue:
    """One registered queue of the bot: its events, what was pruned, and
    when a client last polled it (`last_contact`, trio time; `waiting`
    counts the polls in progress)."""

    id: str
    event_types: frozenset[str]
    apply_markdown: bool
    last_contact: float
    next_event_id: int = 0
    events: collections.deque[dict[str, Any]] = attrs.field(factory=collections.deque)
    newest_pruned_id: int | None = None
    waiting: int = 0
    gone: bool = False

    def add(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue `event` with the next id; the event as queued."""
        queued = {**event, "id": self.next_event_id}
        self.next_event_id += 1
        self.events.append(queued)
        return queued

    def prune(self, last_event_id: int) -> None:
        """Acknowledge every event up to `last_event_id`. Raises
        `QueueRefusal` as the real server does for an id it cannot accept."""
        pruned = self.newest_pruned_id
        if pruned is not None and last_event_id < pruned:
            raise QueueRefusal(f"An event newer than {last_event_id} has already been pruned!")
        while self.events and self.events[0]["id"] <= last_event_id:
            self.newest_pruned_id = self.events.popleft()["id"]
        if self.newest_pruned_id is not None and last_event_id != self.newest_pruned_id:
            raise QueueRefusal(f"Event {last_event_id} was not in this queue")

    def idle_for(self, now: float) -> float:
        """How long nobody has polled this queue (0 while a poll waits)."""
        return 0.0 if self.waiting else now - self.last_contact
