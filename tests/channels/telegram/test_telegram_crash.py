"""`kill -9` of the real `autobot gateway` mid-turn: the message is answered once, after the restart.

The gateway runs as a child process (`python -m autobot --config ... gateway`)
against the loopback Bot API fake and a slow model fake in this test process.
A user writes; once the model has the request (the turn is running), the
gateway is killed with SIGKILL and started again. The fake records every
sendMessage: the message must be answered exactly once. Two moments are
killed: after the gateway confirmed the update to Telegram (the inbound
journal is then the only copy: nothing is redelivered) and before it could
(Telegram redelivers it after the restart: the journal drops the duplicate).
In normal operation too, many messages from several users get one reply each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import yaml

from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.gateway_process import (
    POLL_SECONDS,
    STEP_SECONDS,
    free_port,
    gateway_process,
    killed,
    pending_journal_entries,
    slow_first_echo,
    stop_gracefully,
    until,
)
from autobot.testing.llm_script import FakeLLM, ScriptedReply
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_bot import last_user_text, make_telegram_bot

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")


def bot_config(tmp_path: Path, telegram: FakeTelegram, model: FakeLLM) -> Path:
    config_path = make_telegram_bot(
        tmp_path,
        telegram_url=telegram.base_url,
        model_url=model.base_url,
        allow_from=["*"],
    )
    config = yaml.safe_load(config_path.read_text())
    config["gateway"]["port"] = free_port()  # tests run side by side: not the default port
    config_path.write_text(yaml.safe_dump(config))
    return config_path


async def kill_mid_turn(
    config: Path, telegram: FakeTelegram, model: FakeLLM, log: Path, *, confirmed: bool
) -> list[int]:
    """Run the gateway, let Alice write, SIGKILL it while the model works on
    her message (`confirmed`: after the gateway confirmed the update to
    Telegram; else while the poll that would confirm it hangs). The ids of
    the updates Telegram still holds for the bot at the kill."""
    async with gateway_process(config, log) as first:
        await until(lambda: telegram.active_poll is not None, first, log)
        if not confirmed:
            telegram.fail_next("getUpdates", Fault.stall())
        telegram.post_text(ALICE, "remember the milk")
        await until(lambda: len(model.requests) == 1, first, log)  # the turn runs
        if confirmed:
            await until(lambda: not telegram.pending_update_ids, first, log)
        held = telegram.pending_update_ids
        await killed(config, first)
    assert telegram.messages_in(ALICE.id) == []  # killed before any answer
    return held


@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "not-yet-confirmed"])
async def test_kill_9_mid_turn_then_restart_answers_the_message_once(
    tmp_path: Path, confirmed: bool
) -> None:
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        config = bot_config(tmp_path, telegram, model)
        held = await kill_mid_turn(config, telegram, model, log, confirmed=confirmed)
        # Telegram holds nothing (the journal is the only copy), or the update again
        assert len(held) == (0 if confirmed else 1)
        polls_before = len(telegram.polls)
        async with gateway_process(config, log) as second:
            with trio.fail_after(STEP_SECONDS):
                reply = await telegram.next_message(ALICE.id)
            assert reply.text == "echo: remember the milk"
            # a later message is answered after it: nothing else is still coming
            telegram.post_text(ALICE, "and eggs")
            with trio.fail_after(STEP_SECONDS):
                later = await telegram.next_message(ALICE.id)
            assert later.text == "echo: and eggs"
            await stop_gracefully(second, log)
        # the restarted gateway polled from the start: a redelivery could come
        assert telegram.polls[polls_before].offset is None
    assert [m.text for m in telegram.messages_in(ALICE.id)] == [
        "echo: remember the milk",
        "echo: and eggs",
    ]
    assert telegram.pending_update_ids == []
    assert pending_journal_entries(config, "telegram") == 0
    # the model was asked again after the restart (the killed turn had no answer)
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    assert asked == ["remember the milk", "remember the milk", "and eggs"]


async def test_after_a_kill_the_model_sees_the_replayed_message_once(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        config = bot_config(tmp_path, telegram, model)
        await kill_mid_turn(config, telegram, model, log, confirmed=True)
        async with gateway_process(config, log) as second:
            with trio.fail_after(STEP_SECONDS):
                await telegram.next_message(ALICE.id)
            await stop_gracefully(second, log)
    replayed = model.requests[1].json()
    assert last_user_text(replayed) == "remember the milk"


async def test_many_messages_are_each_answered_once(tmp_path: Path) -> None:
    users = [TelegramUser(id=3000 + n, first_name=f"U{n}") for n in range(4)]
    per_user = 8
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(
            handler=lambda body: ScriptedReply(text="echo: " + last_user_text(body))
        ) as model,
    ):
        config = bot_config(tmp_path, telegram, model)
        async with gateway_process(config, log) as process:
            await until(lambda: telegram.active_poll is not None, process, log)
            for round_ in range(per_user):  # bursts: several updates per batch
                for user in users:
                    telegram.post_text(user, f"{user.id} says {round_}")
                await trio.sleep(POLL_SECONDS)
            await until(
                lambda: all(len(telegram.messages_in(u.id)) >= per_user for u in users),
                process,
                log,
            )
            for user in users:  # one more each: anything still coming comes before it
                telegram.post_text(user, "last")
            await until(
                lambda: all(len(telegram.messages_in(u.id)) >= per_user + 1 for u in users),
                process,
                log,
            )
            await stop_gracefully(process, log)
    for user in users:
        assert [m.text for m in telegram.messages_in(user.id)] == [
            *(f"echo: {user.id} says {n}" for n in range(per_user)),
            "echo: last",
        ]
    assert len(model.requests) == len(users) * (per_user + 1)
    assert pending_journal_entries(config, "telegram") == 0
