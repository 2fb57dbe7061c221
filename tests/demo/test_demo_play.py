"""The demo's self-checks really check: a bot that does something else than a
step expects fails the step, whatever it did instead.

Each test runs the real gateway (Telegram channel, router, sandbox pool)
against the Bot API stand-in and the demo model, with access settings that
contradict the scenario. Real processes: generous bounds, no durations asserted.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from autobot.app import build_gateway, chat_channels
from autobot.config import load_config
from autobot.demo.errors import DemoFailed
from autobot.demo.play import ModelLog, Player
from autobot.demo.scenario import SCENARIO, Expect, Step, demo_bot
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import DEFAULT_TOKEN, serve_fake_telegram
from autobot.testing.telegram_bot import make_telegram_bot

STEP_BOUND = 60.0
WHAT = "What's in the workspace?"
ALICE_ASKS = next(step for step in SCENARIO if step.text == WHAT)
MALLORY_WRITES = next(step for step in SCENARIO if step.expect is Expect.DENIAL)
LUNCH = next(step for step in SCENARIO if step.text.startswith("Lunch"))


@asynccontextmanager
async def player_against(
    tmp_path: Path, *, allow_from: list[str], telegram: dict[str, Any] | None = None
) -> AsyncIterator[Player]:
    """A Player against a real gateway whose Telegram settings are these."""
    log = ModelLog()
    async with (
        serve_fake_telegram(bot=demo_bot(DEFAULT_TOKEN)) as fake_telegram,
        serve_fake_anthropic(handler=log.answer) as model,
    ):
        config_path = make_telegram_bot(
            tmp_path,
            telegram_url=fake_telegram.base_url,
            model_url=model.base_url,
            allow_from=allow_from,
            telegram=telegram,
        )
        loaded = load_config(config_path, {})
        loaded = attrs.evolve(
            loaded,
            config=attrs.evolve(loaded.config, gateway=attrs.evolve(loaded.config.gateway, port=0)),
        )
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=chat_channels(loaded))
        health = gateway.board["telegram"]
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Player(
                telegram=fake_telegram,
                model=model,
                log=log,
                journaled=lambda: health.messages_in,
            )
            gateway.stop()


async def _play(player: Player, step: Step) -> None:
    with trio.fail_after(STEP_BOUND):
        await player.play(step)


async def test_an_answer_that_is_a_denial_fails_the_step(tmp_path: Path) -> None:
    async with player_against(tmp_path, allow_from=["@robert"]) as player:
        with pytest.raises(DemoFailed, match="not with the model's reply"):
            await _play(player, ALICE_ASKS)
    assert player.model.requests == []


async def test_a_denial_that_the_model_answers_fails_the_step(tmp_path: Path) -> None:
    async with player_against(tmp_path, allow_from=["*"]) as player:
        with pytest.raises(DemoFailed, match="journaled for the model"):
            await _play(player, MALLORY_WRITES)


async def test_silence_that_is_answered_fails_the_step(tmp_path: Path) -> None:
    group = {"group_allow_from": [str(LUNCH.where.id)], "group_policy": "open"}
    async with player_against(tmp_path, allow_from=["@alice"], telegram=group) as player:
        with pytest.raises(DemoFailed, match="journaled for the model"):
            await _play(player, LUNCH)


async def test_steps_the_bot_handles_as_expected_pass(tmp_path: Path) -> None:
    group = {"group_allow_from": [str(LUNCH.where.id)]}
    async with player_against(tmp_path, allow_from=["@alice"], telegram=group) as player:
        with trio.fail_after(STEP_BOUND):
            answered = await player.play(ALICE_ASKS)
            denied = await player.play(MALLORY_WRITES)
            quiet = await player.play(LUNCH)
    assert [exchange.name for exchange in answered.exchanges] == ["list_dir"]
    assert answered.sent[0].text.startswith("The workspace holds")
    assert len(denied.sent) == 1 and str(MALLORY_WRITES.sender.id) in denied.sent[0].text
    assert quiet.sent == ()
