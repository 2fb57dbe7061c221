"""Scheduled jobs through the whole gateway: Telegram fake in, the real Anthropic SDK
against the fake model, the cron tool, the scheduler, the router and the bubblewrap
sandbox, all on one virtual clock (the wall clock is tied to it).

A user asks for a reminder; the fake model calls the `cron` tool (`at`, one
minute ahead); the reminder, written by the model in a scheduled turn, arrives
in that chat at exactly the job's time. A user asks for a command every 20 s;
its output arrives at exactly each fire time. Virtual time advances only when
the whole process has been idle for `AUTOJUMP_SECONDS` of real time, far longer
than any loopback exchange or sandbox call takes, so every instant is exact.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic  # noqa: F401 -- loaded now: its ~1 s first import must not happen on the test's clock
import attrs
import pytest
import trio
import trio.testing
import yaml

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.config import load_config
from autobot.cron.store import CronStore
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.llm_script import ScriptedReply, ScriptedToolCall, Step
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_bot import last_user_text, make_telegram_bot

BASE = 1_767_225_600.0  # 2026-01-01T00:00:00Z at virtual time 0
AUTOJUMP_SECONDS = 1.0  # real idle time before virtual time jumps (see the module docstring)
WAIT = 600.0  # virtual seconds any step may take
ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob", username="bob_b")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_SECONDS)


def wall() -> float:
    return BASE + trio.current_time()


@attrs.define
class Model:
    """The fake model: schedules what users ask for, writes scheduled reminders,
    and notes the virtual time of each cron call it makes."""

    cron_calls: dict[str, float] = attrs.field(factory=dict)

    def __call__(self, body: Mapping[str, Any]) -> Step:
        last = body["messages"][-1]
        if isinstance(last["content"], list) and any(
            block.get("type") == "tool_result" for block in last["content"]
        ):
            return ScriptedReply(text="Done: it is scheduled.")
        text = last_user_text(body)
        if text.startswith("[This is a scheduled run"):
            return ScriptedReply(text="Reminder: " + text.splitlines()[-1])
        if text == "remind me to drink water in a minute":
            at = datetime.fromtimestamp(wall() + 60, UTC).isoformat()
            return self._cron("reminder", {"action": "add", "message": "drink water", "at": at})
        if text == "run the disk check every 20 seconds":
            args = {"action": "add", "command": "echo disk ok", "every_seconds": 20}
            return self._cron("disk", {**args, "name": "disk"})
        return ScriptedReply(text="echo: " + text)

    def _cron(self, what: str, arguments: dict[str, Any]) -> Step:
        self.cron_calls[what] = trio.current_time()
        return ScriptedReply(tool_calls=(ScriptedToolCall(name="cron", arguments=arguments),))


@attrs.frozen
class Running:
    gateway: Gateway
    telegram: FakeTelegram
    model: Model
    store: Path

    async def say(self, user: TelegramUser, text: str) -> str:
        self.telegram.post_text(user, text)
        with trio.fail_after(WAIT):
            return (await self.telegram.next_message(user.id)).text


@asynccontextmanager
async def running_bot(tmp_path: Path) -> AsyncIterator[Running]:
    model = Model()
    async with serve_fake_telegram() as telegram, serve_fake_anthropic(handler=model) as llm:
        config_path = make_telegram_bot(
            tmp_path, telegram_url=telegram.base_url, model_url=llm.base_url, allow_from=["*"]
        )
        config = yaml.safe_load(config_path.read_text())
        config["cron"] = {"min_interval_seconds": 10, "timezone": "UTC"}
        config_path.write_text(yaml.safe_dump(config))
        loaded = load_config(config_path, {})
        gateway = build_gateway(
            loaded,
            echo=io.StringIO(),
            serve_http=False,
            wall_clock=wall,
            channels=chat_channels(loaded, wall_clock=wall),
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, telegram, model, loaded.cron_store)
            gateway.stop()


async def test_a_reminder_asked_for_in_chat_arrives_at_its_time(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(tmp_path) as bot:
        answer = await bot.say(ALICE, "remind me to drink water in a minute")
        assert answer == "Done: it is scheduled."
        asked_at = bot.model.cron_calls["reminder"]
        with trio.fail_after(WAIT):
            reminder = await bot.telegram.next_message(ALICE.id)
        assert reminder.text == "Reminder: drink water"
        assert reminder.at == asked_at + 60  # exactly the job's time
        assert bot.telegram.messages_in(BOB.id) == []
        # the scheduled turn is in Alice's conversation: she can follow up on it
        assert await bot.say(ALICE, "thanks") == "echo: thanks"
    # (read once the gateway stopped: the scheduler records every run before it ends)
    with CronStore(bot.store) as store:
        assert store.load().jobs == ()  # a one-shot job is gone once it ran


async def test_a_command_job_sends_its_output_at_each_fire_time(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(tmp_path) as bot:
        answer = await bot.say(BOB, "run the disk check every 20 seconds")
        assert answer == "Done: it is scheduled."
        asked_at = bot.model.cron_calls["disk"]
        with CronStore(bot.store) as store:
            [job] = store.load().jobs
        assert job.owner == f"telegram:{BOB.id}"
        outputs = []
        for _ in range(2):
            with trio.fail_after(WAIT):
                outputs.append(await bot.telegram.next_message(BOB.id))
        assert [m.text for m in outputs] == [f"Scheduled job 'disk' ({job.id}):\ndisk ok"] * 2
        assert [m.at for m in outputs] == [asked_at + 20, asked_at + 40]
        assert bot.telegram.messages_in(ALICE.id) == []
    with CronStore(bot.store) as store:  # the gateway stopped: every run is recorded
        [job] = store.load().jobs
    assert job.runs == 2 and job.last_run is not None
    assert (job.last_run.at, job.last_run.error) == (BASE + asked_at + 40, None)
