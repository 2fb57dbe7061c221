"""Child process: the loopback Bot API fake and the benchmark's users, who talk through it.

    python -m bench.telegram_users    (from scripts/; see bench.children)

Hello: `{"base_url", "token", "clock"}`; `clock` is `time.perf_counter()`
minus trio's clock here, so the parent can place this process's times on
its own clock (both `perf_counter`s read the system's monotonic clock).

Requests:
- `{"op": "first_poll", "timeout": s}`: waits for the bot's first getUpdates;
  answers `{"at": <perf_counter time of its arrival>}`.
- `{"op": "round", "name": "t", "users": M, "messages": K, "latency": L,
  "first_user": id, "timeout": s}`: M users (ids `first_user`...) write at
  the same moment; each sends K messages one after the other, each after the
  reply to the previous one arrived. Answers `{"samples": [[posted,
  answered], ...]}` in this process's trio seconds (`answered` is null when
  the round's timeout passed first), `"calls"`: the bot's Bot API calls
  during the round by method, `"unexpected"`: the first few texts the bot
  sent during the round that answer no outstanding message, and
  `"unexpected_count"`: how many there were.

A reply is matched to its message by the tag in it (see `bench.fake_model`),
by one watcher reading the fake's sent messages as they come (one cheap
check per change, whatever the number of users waiting).
"""

from __future__ import annotations

import collections
import functools
import time
from typing import Any

import attrs
import trio

from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram.records import SentMessage
from bench.children import Answer, RequestRefused, serve_requests
from bench.fake_model import reply_text, user_message_text

MAX_UNEXPECTED = 5  # texts kept to show what went wrong; the rest are counted
MAX_USERS = 10_000
MAX_MESSAGES = 1_000
ROUND_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz")


@attrs.define(eq=False)
class Waiter:
    """One posted message waiting for its reply."""

    key: str  # the reply text that answers it
    posted: float
    done: trio.Event = attrs.field(factory=trio.Event)
    answered: float | None = None


@attrs.define(eq=False)
class ReplyBoard:
    """The users' outstanding messages by reply text, and what else the bot sent."""

    waiting: dict[str, Waiter] = attrs.field(factory=dict)
    unexpected: list[str] = attrs.field(factory=list)  # the first MAX_UNEXPECTED texts
    unexpected_count: int = 0

    def expect(self, tag: str, posted: float) -> Waiter:
        key = reply_text(tag)
        waiter = self.waiting[key] = Waiter(key=key, posted=posted)
        return waiter

    def take_unexpected(self) -> tuple[list[str], int]:
        """The unexpected texts kept and how many there were since the last take."""
        taken = (self.unexpected, self.unexpected_count)
        self.unexpected, self.unexpected_count = [], 0
        return taken

    def forget(self, waiter: Waiter) -> None:
        """Stop waiting for `waiter`'s reply (its round is over)."""
        if self.waiting.get(waiter.key) is waiter:
            del self.waiting[waiter.key]

    def arrived(self, message: SentMessage) -> None:
        waiter = self.waiting.pop(message.text.strip(), None)
        if waiter is None:
            self.unexpected_count += 1
            if len(self.unexpected) < MAX_UNEXPECTED:
                self.unexpected.append(message.text[:200])
            return
        waiter.answered = message.at
        waiter.done.set()

    async def watch(self, fake: FakeTelegram) -> None:
        """Hand every message the bot sends to `arrived`, forever."""
        seen = 0
        while True:
            await fake.until(functools.partial(_longer_than, fake.sent, seen))
            for message in fake.sent[seen:]:
                self.arrived(message)
            seen = len(fake.sent)


def _longer_than(items: list[SentMessage], count: int) -> bool:
    return len(items) > count


@attrs.frozen(kw_only=True)
class RoundPlan:
    """A validated round request (see the module docstring)."""

    name: str
    users: int
    messages: int
    latency: float
    first_user: int
    timeout: float

    @classmethod
    def parse(cls, request: dict[str, Any]) -> RoundPlan:
        """Raises `RequestRefused` naming the first bad field."""
        name = request.get("name")
        if not isinstance(name, str) or not name or not set(name) <= ROUND_NAME_CHARS:
            raise RequestRefused(f"round name must be lower-case letters, got {name!r}")
        users = _int(request, "users", 1, MAX_USERS)
        messages = _int(request, "messages", 1, MAX_MESSAGES)
        first_user = _int(request, "first_user", 1, 2**40)
        latency, timeout = _number(request, "latency"), _number(request, "timeout")
        try:
            user_message_text("x.0.0", latency)
        except ValueError as error:
            raise RequestRefused(str(error)) from None
        return cls(
            name=name,
            users=users,
            messages=messages,
            latency=latency,
            first_user=first_user,
            timeout=timeout,
        )


def _int(request: dict[str, Any], key: str, low: int, high: int) -> int:
    value = request.get(key)
    if type(value) is not int or not low <= value <= high:
        raise RequestRefused(f"{key} must be an integer within {low}-{high}, got {value!r}")
    return value


def _number(request: dict[str, Any], key: str) -> float:
    value = request.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1e6:
        raise RequestRefused(f"{key} must be a number of seconds in 0-1e6, got {value!r}")
    return float(value)


async def run_round(fake: FakeTelegram, board: ReplyBoard, plan: RoundPlan) -> Answer:
    """Play `plan` against the bot; the answer the module docstring describes."""
    calls_before = collections.Counter(call.method for call in fake.calls)
    waiters: list[Waiter] = []

    async def user(index: int) -> None:
        person = TelegramUser(
            id=plan.first_user + index,
            first_name=f"User {index}",
            username=f"bench_{plan.name}_{index}",
        )
        for message in range(plan.messages):
            tag = f"{plan.name}.{index}.{message}"
            waiter = board.expect(tag, trio.current_time())
            waiters.append(waiter)
            fake.post_text(person, user_message_text(tag, plan.latency))
            await waiter.done.wait()

    board.take_unexpected()  # what came between rounds is no round's
    with trio.move_on_after(plan.timeout):
        async with trio.open_nursery() as nursery:
            for index in range(plan.users):
                nursery.start_soon(user, index)
    for waiter in waiters:  # what the timeout cut short is not waited for any more
        board.forget(waiter)
    calls = collections.Counter(call.method for call in fake.calls) - calls_before
    unexpected, unexpected_count = board.take_unexpected()
    return {
        "samples": [[waiter.posted, waiter.answered] for waiter in waiters],
        "calls": dict(calls),
        "unexpected": unexpected,
        "unexpected_count": unexpected_count,
    }


async def first_poll(fake: FakeTelegram, clock: float) -> Answer:
    """The perf_counter time of the bot's first getUpdates (waiting for it)."""
    await fake.until(lambda: bool(fake.polls))
    return {"at": fake.polls[0].at + clock}


async def serve() -> None:
    async with serve_fake_telegram() as fake:
        board = ReplyBoard()
        clock = time.perf_counter() - trio.current_time()

        async def handle(request: dict[str, Any]) -> Answer:
            op = request.get("op")
            if op == "first_poll":
                timeout = _number(request, "timeout")
                with trio.move_on_after(timeout):
                    return await first_poll(fake, clock)
                raise RequestRefused(f"the bot sent no getUpdates within {timeout:.0f} s")
            if op == "round":
                return await run_round(fake, board, RoundPlan.parse(request))
            raise RequestRefused(f"unknown request {request!r}")

        hello = {"base_url": fake.base_url, "token": fake.token, "clock": clock}
        async with trio.open_nursery() as nursery:
            nursery.start_soon(board.watch, fake)
            await serve_requests(hello, handle)
            nursery.cancel_scope.cancel("the benchmark closed this child's stdin")


if __name__ == "__main__":
    trio.run(serve)
