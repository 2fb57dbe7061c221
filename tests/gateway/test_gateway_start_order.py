"""The root tree's order: log, channels, sandbox, router, cron, http; stopped in reverse.

The whole gateway runs with Telegram against the loopback Bot API and model
fakes, with the real bubblewrap sandbox pool. Channels start before the
sandbox pool, so the first poll waits for neither the pool's probe and
workers nor the LLM SDK import (it loads at the first model call);
the router stops before the channels, so a turn that ends while the gateway
stops still has its reply delivered.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.config import LoadedConfig, load_config
from autobot.sandbox import pool as pool_module
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.llm_script import ScriptedReply, Step
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_bot import echo_model, make_telegram_bot

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine
ROOT_EVENT = re.compile(r"root: (\w+) (started|stopped|exited)")


def _gateway(config_path: Path) -> tuple[Gateway, LoadedConfig]:
    loaded = load_config(config_path, {})
    gateway_config = attrs.evolve(loaded.config.gateway, port=0)  # the kernel picks a free port
    loaded = attrs.evolve(loaded, config=attrs.evolve(loaded.config, gateway=gateway_config))
    return build_gateway(loaded, echo=io.StringIO(), channels=chat_channels(loaded)), loaded


def _root_events(loaded: LoadedConfig) -> list[tuple[str, str]]:
    text = (loaded.logs_dir / "autobot.log").read_text()
    return [(match[1], match[2]) for match in ROOT_EVENT.finditer(text)]


async def test_the_first_poll_does_not_wait_for_the_sandbox_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probing, release = trio.Event(), trio.Event()
    real_probe = pool_module.probe_sandbox

    async def held_probe(*args: Any) -> Any:
        probing.set()
        await release.wait()
        return await real_probe(*args)

    monkeypatch.setattr(pool_module, "probe_sandbox", held_probe)
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(handler=echo_model()) as model,
    ):
        config_path = make_telegram_bot(
            tmp_path, telegram_url=telegram.base_url, model_url=model.base_url, allow_from=["*"]
        )
        gateway, loaded = _gateway(config_path)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.run)
            with trio.fail_after(STEP_SECONDS):
                await probing.wait()  # the pool is held in its probe from here on
                telegram.post_text(ALICE, "early bird")
                await telegram.wait_for_calls("getUpdates", 2)  # the 2nd confirms the message
            # journaled and waiting for the router, which starts after the pool
            assert model.requests == []
            pool = gateway.pool.statistics()
            assert pool is not None and pool.idle == 0
            release.set()
            with trio.fail_after(STEP_SECONDS):
                reply = await telegram.next_message(ALICE.id)
            gateway.stop()
    assert reply.text == "echo: early bird"
    started = [child for child, event in _root_events(loaded) if event == "started"]
    assert started == ["log", "channels", "sandbox", "router", "cron", "http"]


async def test_a_turn_that_ends_while_stopping_is_still_delivered(tmp_path: Path) -> None:
    running: list[Gateway] = []

    def stop_then_answer(body: Mapping[str, Any]) -> Step:
        running[0].stop()  # the stop begins while this turn waits for its answer
        return ScriptedReply(text="last words")

    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(handler=stop_then_answer) as model,
    ):
        config_path = make_telegram_bot(
            tmp_path, telegram_url=telegram.base_url, model_url=model.base_url, allow_from=["*"]
        )
        gateway, loaded = _gateway(config_path)
        running.append(gateway)
        with trio.fail_after(STEP_SECONDS):
            async with trio.open_nursery() as nursery:
                await nursery.start(gateway.run)
                telegram.post_text(ALICE, "anything else?")
    assert [message.text for message in telegram.messages_in(ALICE.id)] == ["last words"]
    assert len(model.requests) == 1
    events = _root_events(loaded)
    stopped = [child for child, event in events if event == "stopped"]
    assert stopped == ["http", "cron", "router", "sandbox", "channels"]
