"""The global LLM ceiling, the daily budget and each session's rate buckets
survive a crash and restart of the session router.

The real gateway tree runs (router under the root supervisor, the real
Anthropic SDK against the loopback fake model); a test channel carries
messages in and replies out. The router is made to crash once (an injected
bug), the root supervisor restarts it, and a new conversation finds the
global bucket as drained and the global budget as spent as before, and the
same conversation its own bucket as drained.
"""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import yaml

from autobot.agent.router import SessionRouter
from autobot.app import Gateway, build_gateway
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.config import load_config
from autobot.scaffold.create import create_bot
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.telegram_bot import TEST_API_KEY, echo_model

STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine
CRASH = "crash the router"


@attrs.define
class ReplyCatcher:
    """A channel actor handing every reply to the test."""

    env: ChannelEnv
    replies: trio.MemorySendChannel[OutboundMessage]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router:
            task_status.started()
            async for reply in self.env.outbox:
                await self.replies.send(reply)


@attrs.frozen
class Running:
    gateway: Gateway
    replies: trio.MemoryReceiveChannel[OutboundMessage]

    async def ask(self, chat: str, text: str) -> str:
        with self.gateway.inbound() as router:
            await router.send(InboundMessage(channel="test", chat_id=chat, content=text))
        with trio.fail_after(STEP_SECONDS):
            reply = await self.replies.receive()
        assert reply.chat_id == chat
        return reply.content

    async def crash_router(self) -> None:
        """Crash the router; what is sent next waits in its mailbox (owned by
        the root supervisor) for the restarted incarnation."""
        with self.gateway.inbound() as router:
            await router.send(InboundMessage(channel="test", chat_id="0", content=CRASH))

    def router_restarts(self) -> int:
        [router] = [c for c in self.gateway.root.statistics().children if c.id == "router"]
        return router.restarts


@asynccontextmanager
async def running_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **limits: Any
) -> AsyncIterator[Running]:
    deliver = SessionRouter._deliver

    def crashing(self: SessionRouter, message: InboundMessage) -> None:
        if message.content == CRASH:
            raise RuntimeError("injected router bug")
        deliver(self, message)

    monkeypatch.setattr(SessionRouter, "_deliver", crashing)
    send, replies = trio.open_memory_channel[OutboundMessage](16)  # a reply per question
    channel = ChannelSpec(name="test", factory=lambda env: ReplyCatcher(env, send.clone()))
    async with serve_fake_anthropic(handler=echo_model()) as model:
        bot = create_bot(tmp_path / "bot", interactive=False)
        with bot.env_file.open("a") as env:
            env.write(f"ANTHROPIC_API_KEY={TEST_API_KEY}\n")
        config = yaml.safe_load(bot.config_file.read_text())
        config.setdefault("providers", {}).setdefault("anthropic", {})["api_base"] = model.base_url
        rate_limit = {
            "global_llm": limits["global_llm"],
            "llm": limits.get("llm", {"max_calls": 30}),
        }
        config.setdefault("tools", {})["rate_limit"] = rate_limit
        budget = {"global_daily_tokens": limits["global_daily_tokens"]}
        config["agents"]["defaults"]["budget"] = budget
        bot.config_file.write_text(yaml.safe_dump(config))
        loaded = load_config(bot.config_file, {})
        gateway = build_gateway(
            loaded, echo=io.StringIO(), serve_http=False, rng=random.Random(1), channels=[channel]
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, replies)
            gateway.stop()


async def test_a_router_restart_keeps_the_global_bucket_drained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_gateway(
        tmp_path,
        monkeypatch,
        global_llm={"max_calls": 1, "window_seconds": 86400},
        global_daily_tokens=1_000_000,
    ) as bot:
        assert await bot.ask("1", "hello") == "echo: hello"
        await bot.crash_router()
        refused = await bot.ask("2", "hello from another chat")
        assert bot.router_restarts() == 1
    assert refused.startswith("I'm receiving too many requests right now.")


async def test_a_router_restart_keeps_the_global_budget_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_gateway(
        tmp_path,
        monkeypatch,
        global_llm={"max_calls": 300, "window_seconds": 60},
        global_daily_tokens=15,  # one echo reply: 10 tokens in, 5 out
    ) as bot:
        assert await bot.ask("1", "hello") == "echo: hello"
        await bot.crash_router()
        refused = await bot.ask("2", "hello from another chat")
        assert bot.router_restarts() == 1
    assert refused == (
        "The assistant has used its token budget for today. Please try again tomorrow."
    )


async def test_a_router_restart_keeps_a_sessions_own_bucket_drained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_gateway(
        tmp_path,
        monkeypatch,
        llm={"max_calls": 1, "window_seconds": 86400},
        global_llm={"max_calls": 300, "window_seconds": 60},
        global_daily_tokens=1_000_000,
    ) as bot:
        assert await bot.ask("1", "hello") == "echo: hello"
        await bot.crash_router()
        refused = await bot.ask("1", "hello again")
        other = await bot.ask("2", "hello from another chat")
        assert bot.router_restarts() == 1
    assert refused.startswith("I'm receiving too many requests right now.")
    assert other == "echo: hello from another chat"  # its own bucket is its own
