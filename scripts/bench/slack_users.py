"""Child process: the loopback Slack fake and the benchmark's users, who talk through it.

    python -m bench.slack_users    (from scripts/; see bench.children)

The Slack counterpart of `bench.telegram_users`, with the same requests and
answers. Hello: `{"base_url": <Web API base>, "token": <bot token>,
"app_token": <app-level token>, "clock"}` (`clock` as there). Each user is a
Slack member writing to the bot in a DM (`message.im` events over Socket
Mode); the bot's replies are read from the fake's chat.postMessage records
(their text is mrkdwn: the model's `ok <tag>` has nothing to escape).
`first_poll` answers when the bot's first socket connection got its hello;
`calls` are the bot's Web API calls by method.
"""

from __future__ import annotations

import collections
import functools
import time
from typing import Any

import trio

from autobot.testing.fake_slack import FakeSlack, serve_fake_slack
from autobot.testing.slack.records import PostedMessage
from bench.children import Answer, RequestRefused, serve_requests
from bench.fake_model import user_message_text
from bench.telegram_users import ReplyBoard, RoundPlan, Waiter, _number


async def watch(board: ReplyBoard, fake: FakeSlack) -> None:
    """Hand every message the bot posts to `board.arrived`, forever."""
    seen = 0
    while True:
        await fake.until(functools.partial(_longer_than, fake.posted, seen))
        for message in fake.posted[seen:]:
            board.arrived(message)  # type: ignore[arg-type]  # a PostedMessage has .text and .at too
        seen = len(fake.posted)


def _longer_than(items: list[PostedMessage], count: int) -> bool:
    return len(items) > count


async def run_round(fake: FakeSlack, board: ReplyBoard, plan: RoundPlan) -> Answer:
    """Play `plan` against the bot (see `bench.telegram_users.run_round`)."""
    calls_before = collections.Counter(call.method for call in fake.calls)
    waiters: list[Waiter] = []

    async def user(index: int) -> None:
        person = fake.add_user(f"U{plan.first_user + index}", f"bench_{plan.name}_{index}")
        for message in range(plan.messages):
            tag = f"{plan.name}.{index}.{message}"
            waiter = board.expect(tag, trio.current_time())
            waiters.append(waiter)
            fake.post_dm(person, user_message_text(tag, plan.latency))
            await waiter.done.wait()

    board.take_unexpected()
    with trio.move_on_after(plan.timeout):
        async with trio.open_nursery() as nursery:
            for index in range(plan.users):
                nursery.start_soon(user, index)
    for waiter in waiters:
        board.forget(waiter)
    calls = collections.Counter(call.method for call in fake.calls) - calls_before
    unexpected, unexpected_count = board.take_unexpected()
    return {
        "samples": [[waiter.posted, waiter.answered] for waiter in waiters],
        "calls": dict(calls),
        "unexpected": unexpected,
        "unexpected_count": unexpected_count,
    }


async def first_connection(fake: FakeSlack, clock: float) -> Answer:
    """The perf_counter time the bot's first socket connection opened (waiting for it)."""
    await fake.until(lambda: bool(fake.connections))
    return {"at": fake.connections[0].opened_at + clock}


async def serve() -> None:
    async with serve_fake_slack() as fake:
        board = ReplyBoard()
        clock = time.perf_counter() - trio.current_time()

        async def handle(request: dict[str, Any]) -> Answer:
            op = request.get("op")
            if op == "first_poll":
                timeout = _number(request, "timeout")
                with trio.move_on_after(timeout):
                    return await first_connection(fake, clock)
                raise RequestRefused(f"the bot opened no socket within {timeout:.0f} s")
            if op == "round":
                return await run_round(fake, board, RoundPlan.parse(request))
            raise RequestRefused(f"unknown request {request!r}")

        hello = {
            "base_url": fake.api_base,
            "token": fake.bot_token,
            "app_token": fake.app_token,
            "clock": clock,
        }
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, board, fake)
            await serve_requests(hello, handle)
            nursery.cancel_scope.cancel("the benchmark closed this child's stdin")


if __name__ == "__main__":
    trio.run(serve)
