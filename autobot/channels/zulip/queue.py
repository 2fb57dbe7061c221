"""The bot's Zulip event queue: register, long-poll, acknowledge, resume, re-register.

Zulip keeps the events of a registered queue until the client acknowledges
them (the next `GET /events` names the last one it handled), and collects a
queue nobody polled for about ten minutes. `EventQueue` owns the channel's
side of that:

- `open()` takes up the saved queue, or registers one (`POST /register`:
  its id, the long-poll timeout, `max_message_length` and the upload size
  limit); `poll()`
  registers again when the queue was lost, then long-polls it. A
  queue the server no longer has (`BAD_EVENT_QUEUE_ID`, or a 400 saying the
  acknowledged event is not in it) is dropped: a WARN says that messages
  sent since the last acknowledgement may have been missed, naming the gap
  in seconds and the last event id, and the next `poll()` registers a new
  queue. A queue lost within `LOST_AT_ONCE_SECONDS` of its registration,
  before any poll of it worked, is raised as `NetworkTrouble` instead, so
  the channel backs off rather than loops.
- `acknowledge(event_id)` is called once every message up to that event is
  journaled (or deliberately ignored): only then does the next poll
  acknowledge it to the server. Each acknowledgement, and each new queue,
  is saved (`QueueFile`, `state/zulip-queue.json`, 0600, atomic) with the
  wall-clock time, so a restarted gateway, even after `kill -9`, resumes
  the same queue where it left off: what arrived while it was down comes,
  and what it had journaled but not yet acknowledged comes again (the
  journal drops the duplicates). A queue that expired meanwhile is the
  lost-queue case above, its gap measured from the saved time.

Errors other than a lost queue propagate unchanged (`ZulipError`): the
channel cools down from the transient ones and stops on `Unauthorized`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.channels.json_fields import is_int
from autobot.channels.zulip.api import (
    DEFAULT_MAX_MESSAGE_LENGTH,
    DEFAULT_MAX_UPLOAD_MIB,
    MAX_MESSAGE_LENGTH_RANGE,
    MAX_UPLOAD_MIB_RANGE,
    BadRequest,
    NetworkTrouble,
    QueueGone,
    ZulipApi,
)
from autobot.channels.zulip.errors import seconds
from autobot.logs.records import Logger
from autobot.security.regular_file import FileRefused, read_regular_file
from autobot.store.atomic import ensure_private_dir, write_private_file

QUEUE_FILE = "zulip-queue.json"
MAX_QUEUE_FILE = 4096
# A queue lost this soon after it was registered, before any poll of it
# worked, points at a server that loses every queue: back off, do not loop.
LOST_AT_ONCE_SECONDS = 1.0
_STATE_KEYS = frozenset(
    {
        "queue_id",
        "last_event_id",
        "longpoll_seconds",
        "max_message_length",
        "max_upload_mib",
        "saved_at",
    }
)
# A file saved before the upload limit was kept: that limit is Zulip's default.
_STATE_KEYS_WITHOUT_UPLOADS = _STATE_KEYS - {"max_upload_mib"}


@attrs.frozen(kw_only=True)
class QueueState:
    """A registered queue as the channel knows it: its id, the last event
    handled (acknowledged at the next poll), the server's long-poll timeout,
    message length and upload size (MiB) limits, and when this was last
    saved (wall clock)."""

    queue_id: str
    last_event_id: int
    longpoll_seconds: float
    max_message_length: int
    saved_at: float
    max_upload_mib: int = DEFAULT_MAX_UPLOAD_MIB


def encode_state(state: QueueState) -> bytes:
    """The saved form of `state` (one JSON object)."""
    return (json.dumps(attrs.asdict(state), sort_keys=True) + "\n").encode("ascii")


def decode_state(data: bytes) -> QueueState:
    """The state `encode_state` wrote (or wrote before it kept the upload
    limit). Raises ValueError (naming the field, never its value) for
    anything else."""
    try:
        fields = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc.__class__.__name__}") from None
    if not isinstance(fields, dict) or fields.keys() not in (
        _STATE_KEYS,
        _STATE_KEYS_WITHOUT_UPLOADS,
    ):
        raise ValueError("not an object with exactly the queue fields")
    queue_id, last = fields["queue_id"], fields["last_event_id"]
    longpoll, saved_at = seconds(fields["longpoll_seconds"]), seconds(fields["saved_at"])
    length = fields["max_message_length"]
    upload_mib = fields.get("max_upload_mib", DEFAULT_MAX_UPLOAD_MIB)
    low, high = MAX_MESSAGE_LENGTH_RANGE
    low_mib, high_mib = MAX_UPLOAD_MIB_RANGE
    if not isinstance(queue_id, str) or not queue_id or not queue_id.isprintable():
        raise ValueError("queue_id is not printable text")
    if not is_int(last) or last < -1:
        raise ValueError("last_event_id is not an int >= -1")
    if longpoll is None or longpoll <= 0 or saved_at is None:
        raise ValueError("longpoll_seconds or saved_at is not a positive number")
    if not is_int(length) or not low <= length <= high:
        raise ValueError("max_message_length is out of range")
    if not is_int(upload_mib) or not low_mib <= upload_mib <= high_mib:
        raise ValueError("max_upload_mib is out of range")
    return QueueState(
        queue_id=queue_id,
        last_event_id=last,
        longpoll_seconds=longpoll,
        max_message_length=length,
        saved_at=saved_at,
        max_upload_mib=upload_mib,
    )


@attrs.frozen
class QueueFile:
    """Where the queue state is saved (`<bot>/state/zulip-queue.json`).
    Blocking: run it in a worker thread."""

    path: Path

    @classmethod
    def in_bot(cls, bot_dir: Path) -> QueueFile:
        return cls(bot_dir / "state" / QUEUE_FILE)

    def load(self) -> QueueState | None:
        """The saved state; None when there is none. Raises ValueError for a
        file that is unusable (not a regular file, too large, malformed)."""
        try:
            data = read_regular_file(self.path, limit=MAX_QUEUE_FILE)
        except FileNotFoundError:
            return None
        except FileRefused as exc:
            raise ValueError(f"{self.path.name} {exc}") from None
        if len(data) > MAX_QUEUE_FILE:
            raise ValueError(f"{self.path.name} is larger than {MAX_QUEUE_FILE} bytes")
        return decode_state(data)

    def save(self, state: QueueState) -> None:
        """Replace the saved state atomically (0600, fsync-ed). Raises OSError."""
        ensure_private_dir(self.path.parent)
        write_private_file(self.path, encode_state(state))


@attrs.define(kw_only=True, eq=False)
class EventQueue:
    """The channel's event queue (see the module docstring). `limiter`
    serialises the file's thread work; `wall_clock` dates what is saved."""

    api: ZulipApi
    file: QueueFile
    logger: Logger
    wall_clock: Callable[[], float]
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    state: QueueState | None = None
    max_message_length: int = DEFAULT_MAX_MESSAGE_LENGTH
    max_upload_mib: int = DEFAULT_MAX_UPLOAD_MIB
    _registered_at: float | None = attrs.field(default=None, init=False)  # till a poll works

    async def open(self) -> None:
        """Take up the saved queue, or register a new one when there is none
        (a malformed file is a WARN, then a new queue)."""
        if self.state is not None:
            return
        saved = await self._saved()
        if saved is None:
            await self._register()
            return
        self.state, self.max_message_length = saved, saved.max_message_length
        self.max_upload_mib = saved.max_upload_mib
        self.logger.info(
            "zulip: resuming the event queue",
            queue_id=saved.queue_id,
            last_event_id=saved.last_event_id,
        )

    async def _saved(self) -> QueueState | None:
        try:
            return await trio.to_thread.run_sync(self.file.load, limiter=self.limiter)
        except (ValueError, OSError) as exc:
            self.logger.warn(
                "zulip: saved event queue unusable; registering a new one", reason=str(exc)
            )
            return None

    async def poll(self) -> list[dict[str, Any]]:
        """The next events (heartbeats included: acknowledge them too), after
        registering a queue if there is none; [] when the queue was lost."""
        if self.state is None:
            await self._register()
        state = self.state
        assert state is not None
        try:
            events = await self.api.get_events(
                state.queue_id, state.last_event_id, longpoll_seconds=state.longpoll_seconds
            )
        except (QueueGone, BadRequest) as exc:
            self._lost(state, exc)
            registered = self._registered_at
            if registered is not None and trio.current_time() - registered < LOST_AT_ONCE_SECONDS:
                raise NetworkTrouble(
                    0, "a new event queue was lost at once", endpoint="events"
                ) from None
            return []
        self._registered_at = None
        return events

    async def acknowledge(self, event_id: int) -> None:
        """Every event up to `event_id` is handled: the next poll says so, and
        it is saved now. Raises OSError when it cannot be saved."""
        state = self.state
        if state is None or event_id <= state.last_event_id:
            return
        await self._save(attrs.evolve(state, last_event_id=event_id, saved_at=self.wall_clock()))

    async def _register(self) -> None:
        registration = await self.api.register()
        self.max_message_length = registration.max_message_length
        self.max_upload_mib = registration.max_upload_mib
        self._registered_at = trio.current_time()
        await self._save(
            QueueState(
                queue_id=registration.queue_id,
                last_event_id=registration.last_event_id,
                longpoll_seconds=registration.longpoll_seconds,
                max_message_length=registration.max_message_length,
                saved_at=self.wall_clock(),
                max_upload_mib=registration.max_upload_mib,
            )
        )
        self.logger.info("zulip: event queue registered", queue_id=registration.queue_id)

    async def _save(self, state: QueueState) -> None:
        """Save `state`, then make it current (a failed save leaves the old one)."""
        await trio.to_thread.run_sync(self.file.save, state, limiter=self.limiter)
        self.state = state

    def _lost(self, state: QueueState, exc: BadRequest | QueueGone) -> None:
        gap = max(self.wall_clock() - state.saved_at, 0.0)
        self.state = None
        self.logger.warn(
            f"zulip: the event queue is gone; messages sent in the last {gap:.0f} s"
            " may have been missed; registering a new queue",
            queue_id=state.queue_id,
            last_event_id=state.last_event_id,
            gap_seconds=round(gap, 1),
            error=str(exc),
        )
