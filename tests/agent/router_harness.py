"""Shared set-up for router tests (imported as `router_harness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.agent.loop import AgentLoop, LoopSettings
from autobot.agent.router import ROUTER_MAILBOX_SIZE, SessionRouter
from autobot.agent.session import AgentDeps
from autobot.agent.session_store import LoadedSession, SessionStore
from autobot.agent.spend import GlobalLimits
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.config.schema import AgentDefaults, Budget, RateLimit, RateLimitConfig
from autobot.logs.records import LogRecord
from autobot.runtime.batching import run_inline
from autobot.testing.logs import capture_logger
from autobot.testing.scripted_llm import ScriptedProvider
from autobot.tools.base import Tool
from autobot.tools.registry import ToolRegistry

DAY = 1_767_225_600.0  # 2026-01-01T00:00:00Z
OUTBOX = 1000  # tests read replies at their own pace
REPLY_WAIT = 3600.0  # longer than any scripted turn; under autojump_clock, instant


@attrs.define
class FlakyStore:
    """A SessionStore whose appends raise OSError for keys in `broken` (a disk
    failure); every append is recorded in `appends` as (key, kinds, sync),
    every load's key in `loads`."""

    inner: SessionStore
    broken: set[str] = attrs.field(factory=set)
    appends: list[tuple[str, tuple[str, ...], bool]] = attrs.field(factory=list)
    loads: list[str] = attrs.field(factory=list)

    def scan(self) -> None:
        self.inner.scan()

    def may_exist(self, key: str) -> bool:
        return self.inner.may_exist(key)

    def load(self, key: str) -> LoadedSession:
        self.loads.append(key)
        return self.inner.load(key)

    def append(self, key: str, entries: Iterable[Mapping[str, Any]], *, sync: bool = True) -> None:
        batch = self._check(key, entries)
        self.inner.append(key, batch, sync=sync)
        self._record(key, batch, sync=sync)

    def _check(self, key: str, entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        if key in self.broken:
            raise OSError(28, "No space left on device")
        return list(entries)

    def _record(self, key: str, batch: list[Mapping[str, Any]], *, sync: bool) -> None:
        kinds = tuple(str(e.get("role", e["t"])) for e in batch)
        self.appends.append((key, kinds, sync))


@attrs.define
class Harness:
    router: SessionRouter
    send: trio.MemorySendChannel[InboundMessage]
    replies: trio.MemoryReceiveChannel[OutboundMessage]
    records: trio.MemoryReceiveChannel[LogRecord]
    provider: ScriptedProvider
    store: FlakyStore
    workspace: Path

    async def say(self, chat: str, text: str, channel: str = "test") -> None:
        await self.send.send(InboundMessage(channel=channel, chat_id=chat, content=text))

    async def reply(self) -> tuple[str, str, float]:
        """The next reply; a reply that never comes fails the test (TooSlowError
        after REPLY_WAIT virtual seconds) instead of hanging it."""
        with trio.fail_after(REPLY_WAIT):
            out = await self.replies.receive()
        return out.chat_id, out.content, trio.current_time()


@asynccontextmanager
async def running_router(
    tmp_path: Path,
    *,
    provider: ScriptedProvider | None = None,
    tools: Iterable[Tool] = (),
    defaults: AgentDefaults | None = None,
    rate_limits: RateLimitConfig | None = None,
    global_llm: int = 10_000,
    wall: Callable[[], float] = lambda: DAY,
) -> AsyncIterator[Harness]:
    provider = provider or ScriptedProvider(latency=1.0)
    defaults = defaults or AgentDefaults(idle_timeout_seconds=60.0)
    rate_limits = rate_limits or RateLimitConfig(
        llm=RateLimit(max_calls=1000), tools=RateLimit(max_calls=1000)
    )
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    store = FlakyStore(SessionStore(tmp_path / "sessions", workspace))
    logger, records = capture_logger("gateway")
    out_send, out_receive = trio.open_memory_channel[OutboundMessage](OUTBOX)
    deps = AgentDeps(
        loop=AgentLoop(
            provider=provider,
            registry=ToolRegistry.of(tools),
            settings=LoopSettings.from_defaults(defaults, model="m"),
        ),
        journal=store,
        workspace=workspace,
        defaults=defaults,
        rate_limits=rate_limits,
        shared=GlobalLimits.from_config(
            RateLimit(max_calls=global_llm), defaults.budget or Budget(), trio.current_time()
        ),
        outbound=out_send,
        logger=logger,
        disk=run_inline,
        wall_clock=wall,
    )
    in_send, in_receive = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    router = SessionRouter(deps=deps, inbox=in_receive)
    async with trio.open_nursery() as nursery:
        await nursery.start(router.run)
        yield Harness(router, in_send, out_receive, records, provider, store, workspace)
        router.stopping.set()
