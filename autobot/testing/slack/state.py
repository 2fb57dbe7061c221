"""The Slack fake's server-side state, which its Web API methods and its socket side work on.

`SlackState` owns what Slack keeps for one app in one workspace: the bot's
identity, the channels, the event subscriptions, the queue of events still
to be acknowledged, the Socket Mode connections and tickets, the reserved
uploads, and the record of what the bot posted and what was delivered and
acknowledged. The method handlers (`methods`) and the socket side
(`socket`) take it as their first argument; `FakeSlack`
(`autobot.testing.fake_slack`) is this state plus the HTTP server and the
test's controls, so neither imports the fake.

Every change that a waiting task could be waiting for ends with `changed()`,
which wakes `until` and `wait_for_change`. Time is trio's clock: a `ts` is
`DATE_EPOCH` plus trio time.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio
from trio_util import AsyncValue

from autobot.testing.slack.connection import FakeConnection
from autobot.testing.slack.events import events_api_payload, message_event
from autobot.testing.slack.records import Ack, Delivery, PostedMessage, Upload

BOT_USER_ID = "U0BOT0001"
BOT_ID = "B0BOT0001"
DATE_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: `ts` is this plus trio time
RETRY_SECONDS = 3.0  # Slack retries an unacknowledged envelope after about 3 s
MAX_RETRIES = 3  # then it gives up on the event
DEFAULT_SUBSCRIPTIONS = frozenset({"message.im", "app_mention"})


@attrs.define(eq=False, kw_only=True)
class PendingEvent:
    """An event Slack still has to get acknowledged: its payload, the next try
    number, and when that try is due."""

    event_id: str
    payload: dict[str, Any]
    attempt: int = 0
    due: float = 0.0


@attrs.define(kw_only=True)
class ReservedUpload:
    """An upload files.getUploadURLExternal reserved; `data` once POSTed."""

    filename: str
    length: int
    data: bytes | None = None


@attrs.define(kw_only=True, eq=False)
class SlackState:
    """What the fake server keeps for its app, and the primitives that change it."""

    base_url: str
    socket_port: int = 0
    bot_user_id: str = BOT_USER_ID
    bot_id: str = BOT_ID
    retry_seconds: float = RETRY_SECONDS
    max_retries: int = MAX_RETRIES
    subscriptions: set[str] = attrs.field(factory=lambda: set(DEFAULT_SUBSCRIPTIONS))
    echo_bot_messages: bool = True
    ignore_acks: bool = False
    socket_url_override: str | None = None
    channels: dict[str, str] = attrs.field(factory=dict)  # id -> im / channel / group / mpim
    posted: list[PostedMessage] = attrs.field(factory=list)
    deliveries: list[Delivery] = attrs.field(factory=list)
    acks: list[Ack] = attrs.field(factory=list)
    garbage: list[str] = attrs.field(factory=list)  # frames from the client that are no ack
    uploads: list[Upload] = attrs.field(factory=list)
    lost: list[str] = attrs.field(factory=list)  # event ids given up after the retries
    connections: list[FakeConnection] = attrs.field(factory=list)
    pending: list[PendingEvent] = attrs.field(factory=list)
    reserved: dict[str, ReservedUpload] = attrs.field(factory=dict)
    tickets: set[str] = attrs.field(factory=set)
    envelope_count: int = 0
    _sequence: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    _version: AsyncValue[int] = attrs.field(factory=lambda: AsyncValue(0))

    def now(self) -> float:
        return trio.current_time()

    def next_number(self) -> int:
        """The next number of the sequence file ids, event ids and ts share."""
        return next(self._sequence)

    def new_ts(self) -> str:
        """A message ts: seconds since the epoch (DATE_EPOCH + trio time) and a sequence."""
        return f"{DATE_EPOCH + int(trio.current_time())}.{self.next_number():06d}"

    def new_ticket(self) -> str:
        ticket = secrets.token_urlsafe(16)
        self.tickets.add(ticket)
        return ticket

    def reserve_upload(self, filename: str, length: int) -> str:
        file_id = f"F{self.next_number():08d}"
        self.reserved[file_id] = ReservedUpload(filename=filename, length=length)
        return file_id

    def inject_event(self, event: Mapping[str, Any]) -> str:
        """Queue `event` as it is (an `events_api` envelope around it); its event id."""
        event_id = f"Ev{self.next_number():08d}"
        payload = events_api_payload(event, event_id, DATE_EPOCH + int(trio.current_time()))
        self.pending.append(PendingEvent(event_id=event_id, payload=payload))
        self.changed()
        return event_id

    def record_posted(self, message: PostedMessage) -> None:
        self.posted.append(message)
        in_dm = self.channels.get(message.channel) == "im"
        if self.echo_bot_messages and in_dm and "message.im" in self.subscriptions:
            echo = message_event(
                user=self.bot_user_id,
                channel=message.channel,
                channel_type="im",
                text=message.text,
                ts=message.ts,
                thread_ts=message.thread_ts,
            )
            self.inject_event({**echo, "bot_id": self.bot_id})
        self.changed()

    def open_connections(self) -> list[FakeConnection]:
        return [connection for connection in self.connections if connection.open]

    @property
    def version(self) -> int:
        value: int = self._version.value
        return value

    def changed(self) -> None:
        self._version.value += 1

    async def wait_for_change(self, version: int) -> None:
        await self._version.wait_value(lambda value: value != version)

    async def until(self, condition: Callable[[], bool]) -> None:
        await self._version.wait_value(lambda _: condition())
