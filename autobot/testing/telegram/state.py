"""The fake Bot API's server-side state, which its methods and its webhook loop work on.

`TelegramState` owns what a real Bot API server keeps for one bot: its
profile, the update queue, the chats, the stored files, the webhook, the
waiting getUpdates call, and the record of what the bot sent, polled and
did. The method modules (`methods`, `sending`) and the webhook loop
(`delivery`) take it as their first argument; `FakeTelegram`
(`autobot.testing.fake_telegram`) is this state plus the HTTP server and the
test's controls, so the methods never import the fake.

Every change that a waiting call could be waiting for ends with `changed()`,
which wakes every `until` to check its condition again. Time is trio's
clock: `date` fields are `DATE_EPOCH` plus trio time.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio
from trio_util import AsyncValue

from autobot.testing.telegram.chats import ChatBook
from autobot.testing.telegram.files import FileStore
from autobot.testing.telegram.objects import BotProfile
from autobot.testing.telegram.records import ChatAction, PollRecord, SentMessage
from autobot.testing.telegram.updates import UpdateQueue
from autobot.testing.telegram.webhook import WebhookState

DATE_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z
TERMINATED_BY_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@attrs.define
class PollTicket:
    """The waiting getUpdates call; `ended_by` is set when something ends it early."""

    ended_by: str | None = None


@attrs.define(kw_only=True, eq=False)
class TelegramState:
    """What the fake server keeps for its bot, and the primitives that change it."""

    bot: BotProfile
    webhook_retry_delay: float
    webhook_timeout: float
    updates: UpdateQueue = attrs.field(factory=UpdateQueue)
    chats: ChatBook = attrs.field(factory=ChatBook)
    files: FileStore = attrs.field(factory=FileStore)
    webhook: WebhookState = attrs.field(factory=WebhookState)
    polls: list[PollRecord] = attrs.field(factory=list)
    sent: list[SentMessage] = attrs.field(factory=list)
    chat_actions: list[ChatAction] = attrs.field(factory=list)
    active_poll: PollTicket | None = None
    _version: AsyncValue[int] = attrs.field(factory=lambda: AsyncValue(0))

    def unix_time(self) -> int:
        """The `date` of something happening now."""
        return DATE_EPOCH + int(trio.current_time())

    def changed(self) -> None:
        """Wake everything waiting in `until` to re-check its condition."""
        self._version.value += 1

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds (checked now and after each change)."""
        await self._version.wait_value(lambda _: condition())

    def begin_poll(self) -> PollTicket:
        """A getUpdates call starts: it ends the one waiting, if any, with 409."""
        self.end_waiting_poll(TERMINATED_BY_OTHER_POLL)
        self.active_poll = PollTicket()
        return self.active_poll

    def end_waiting_poll(self, reason: str) -> None:
        """Make the waiting getUpdates (if any) answer 409 with `reason`."""
        if self.active_poll is not None:
            self.active_poll.ended_by = reason
            self.active_poll = None
            self.changed()

    def record_sent(self, message: SentMessage) -> None:
        """The bot sent `message`."""
        self.sent.append(message)
        self.changed()
