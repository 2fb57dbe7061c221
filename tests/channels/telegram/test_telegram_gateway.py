"""The whole gateway with Telegram enabled, against the loopback Bot API and model fakes.

The real tree runs (log, sandbox pool with bubblewrap, channels, router,
HTTP), the real Telegram client talks to the fake over loopback HTTP, and
the real Anthropic SDK to the fake model.
"""

from __future__ import annotations

import io
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import httpx
import pytest
import trio

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.config import LoadedConfig, load_config
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.gateway_process import free_port
from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram_bot import echo_model, make_telegram_bot

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob", username="bob_b")
STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine


def _any_port(loaded: LoadedConfig) -> LoadedConfig:
    gateway = attrs.evolve(loaded.config.gateway, port=0)
    return attrs.evolve(loaded, config=attrs.evolve(loaded.config, gateway=gateway))


@attrs.frozen
class Running:
    gateway: Gateway
    telegram: FakeTelegram
    loaded: LoadedConfig


@asynccontextmanager
async def running_bot(
    tmp_path: Path, *, allow_from: list[str], telegram: dict[str, object] | None = None
) -> AsyncIterator[Running]:
    async with (
        serve_fake_telegram() as fake_telegram,
        serve_fake_anthropic(handler=echo_model()) as model,
    ):
        config_path = make_telegram_bot(
            tmp_path,
            telegram_url=fake_telegram.base_url,
            model_url=model.base_url,
            allow_from=allow_from,
            telegram=telegram,
        )
        loaded = _any_port(load_config(config_path, {}))
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=chat_channels(loaded))
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, fake_telegram, loaded)
            gateway.stop()


async def test_allowed_user_is_answered_and_a_stranger_denied(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=["@Alice"]) as bot:
        bot.telegram.post_text(ALICE, "hello there")
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.telegram.next_message(ALICE.id)
        assert reply.text == "echo: hello there"

        bot.telegram.post_text(BOB, "let me in")
        with trio.fail_after(STEP_SECONDS):
            denial = await bot.telegram.next_message(BOB.id)
        assert str(BOB.id) in denial.text
        async with httpx.AsyncClient(base_url=bot.gateway.http_url or "") as client:
            health = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
    assert health.status_code == 200
    assert 'autobot_channel_denied_total{channel="telegram"} 1' in metrics
    assert 'autobot_channel_messages_out_total{channel="telegram"} 1' in metrics
    log = (bot.loaded.logs_dir / "autobot.log").read_text()
    assert "ACCESS DENIED" in log and str(BOB.id) in log
    assert "let me in" not in log  # nothing of a stranger's message reaches a session


async def test_group_mention_is_answered_in_reply(tmp_path: Path) -> None:
    group = TelegramChat(id=-100500, type="supergroup", title="team")
    async with running_bot(
        tmp_path, allow_from=["1001"], telegram={"group_allow_from": [str(group.id)]}
    ) as bot:
        bot.telegram.add_chat(group)
        bot.telegram.post_text(ALICE, "just chatting", chat=group)
        posted = bot.telegram.post_text(ALICE, "@autobot_test_bot what time is it", chat=group)
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.telegram.next_message(group.id)
    assert reply.text == "echo: [Alice in a group chat]\n@autobot_test_bot what time is it"
    assert reply.reply_to_message_id == posted["message_id"]
    assert len(bot.telegram.messages_in(group.id)) == 1


@pytest.mark.parametrize("length", [9000])
async def test_long_reply_is_split_under_the_limit(tmp_path: Path, length: int) -> None:
    async with running_bot(tmp_path, allow_from=["*"]) as bot:
        text = " ".join(f"w{i}" for i in range(length // 5))
        bot.telegram.post_text(ALICE, text)
        with trio.fail_after(STEP_SECONDS):
            await bot.telegram.until(
                lambda: (
                    sum(len(m.text) for m in bot.telegram.messages_in(ALICE.id))
                    >= len("echo: " + text) - 10
                )
            )
        parts = bot.telegram.messages_in(ALICE.id)
    assert len(parts) >= 3
    assert all(len(part.text.encode("utf-16-le")) // 2 <= 4096 for part in parts)
    assert " ".join(part.text for part in parts).split() == ("echo: " + text).split()


async def test_webhook_mode_answers_and_refuses_a_wrong_secret(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    async with (
        serve_fake_telegram(webhook_retry_delay=0.2) as fake,
        serve_fake_anthropic(handler=echo_model()) as model,
    ):
        config_path = make_telegram_bot(
            tmp_path,
            telegram_url=fake.base_url,
            model_url=model.base_url,
            allow_from=["1001"],
            telegram={"mode": "webhook"},
        )
        loaded = load_config(config_path, {})
        telegram = attrs.evolve(loaded.config.channels.telegram, webhook_url=url)
        channels = attrs.evolve(loaded.config.channels, telegram=telegram)
        gateway_config = attrs.evolve(loaded.config.gateway, port=port)
        loaded = attrs.evolve(
            loaded, config=attrs.evolve(loaded.config, channels=channels, gateway=gateway_config)
        )
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=chat_channels(loaded))
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            with trio.fail_after(STEP_SECONDS):
                await fake.until(lambda: bool(fake.calls_to("setWebhook")))
            fake.post_text(ALICE, "via webhook")
            with trio.fail_after(STEP_SECONDS):
                reply = await fake.next_message(ALICE.id)
            async with httpx.AsyncClient() as client:
                forged = await client.post(
                    url,
                    json={"update_id": 999, "message": {"message_id": 1}},
                    headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                )
                unsigned = await client.post(url, json={"update_id": 998})
                oversized = await client.post(url, content=b"x" * (2 * 1024 * 1024))
            gateway.stop()
    assert reply.text == "echo: via webhook"
    assert fake.calls_to("getUpdates") == []
    assert (forged.status_code, unsigned.status_code) == (403, 403)
    assert oversized.status_code == 413
    secret_file = loaded.bot_dir / "state" / "telegram-webhook-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    journal = (loaded.bot_dir / "state" / "inbound" / "telegram.jsonl").read_text()
    assert "via webhook" in journal and '"update_id": 999' not in journal
