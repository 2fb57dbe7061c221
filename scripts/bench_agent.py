"""Benchmark the session router and agent actors: N sessions x K turns, LLM latency L.

    .venv/bin/python scripts/bench_agent.py --sessions 1000 --turns 1 --latency 1.0
    .venv/bin/python scripts/bench_agent.py --mode http --sessions 200 --latency 1.0

Modes:
- `inprocess` (default): a scripted provider that sleeps L seconds per call;
  measures the router/actor/journal overhead alone.
- `http`: the real AnthropicProvider (SDK + httpx) against the loopback
  Anthropic fake answering after L seconds; adds the HTTP client cost.

Every session sends K messages one after the other (a turn waits for the
previous reply); sessions run concurrently. The real journal is written
(fsync per line, in worker threads) into a temporary bot directory.
Prints wall time against the ideal (K x L), per-turn overhead, and the memory
an idle session costs (tracemalloc and RSS deltas after all turns, with every
actor still alive). Goal: 1,000 sessions, L = 1 s, one turn: < 1.5 s wall;
an idle session < 50 KB.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from autobot.agent.assembly import build_deps
from autobot.agent.router import ROUTER_MAILBOX_SIZE, SessionRouter
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.config.schema import (
    AgentDefaults,
    AgentsConfig,
    Config,
    RateLimit,
    RateLimitConfig,
    ToolsConfig,
)
from autobot.config.secret import Secret
from autobot.llm.anthropic_provider import AnthropicProvider
from autobot.llm.limits import ProviderLimits
from autobot.llm.types import LLMProvider
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply
from autobot.testing.logs import capture_logger
from autobot.testing.scripted_llm import ScriptedProvider
from autobot.tools.registry import ToolRegistry


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _config(sessions: int) -> Config:
    # Limits high enough that the benchmark measures overhead, not refusals.
    many = RateLimit(max_calls=max(1000, sessions * 10))
    return Config(
        agents=AgentsConfig(defaults=AgentDefaults(idle_timeout_seconds=3600.0)),
        tools=ToolsConfig(rate_limit=RateLimitConfig(llm=many, tools=many, global_llm=many)),
    )


@asynccontextmanager
async def _provider(mode: str, latency: float) -> AsyncIterator[LLMProvider]:
    if mode == "inprocess":
        yield ScriptedProvider(latency=latency)
        return
    reply = ScriptedReply(text="ok", latency=latency)
    async with serve_fake_anthropic(handler=lambda _: reply) as fake:
        provider = AnthropicProvider(
            api_key=Secret("sk-ant-bench"),
            api_base=fake.base_url,
            limits=ProviderLimits(),
            rng=random.Random(0),
        )
        try:
            yield provider
        finally:
            await provider.aclose()


async def _run_turns(
    in_send: trio.MemorySendChannel[InboundMessage],
    out_receive: trio.MemoryReceiveChannel[OutboundMessage],
    prefix: str,
    sessions: int,
    turns: int,
) -> None:
    """Send turn 0 to every session; each final reply triggers that session's next turn."""
    for chat in range(sessions):
        await in_send.send(
            InboundMessage(channel="bench", chat_id=f"{prefix}{chat}", content="turn #0")
        )
    remaining = sessions * turns
    done_turns: dict[str, int] = {}
    async for reply in out_receive:
        if not reply.final:
            continue
        remaining -= 1
        if remaining == 0:
            return
        following = done_turns[reply.chat_id] = done_turns.get(reply.chat_id, 0) + 1
        if following < turns:
            await in_send.send(
                InboundMessage(channel="bench", chat_id=reply.chat_id, content=f"turn #{following}")
            )


async def bench(mode: str, sessions: int, turns: int, latency: float) -> None:
    config = _config(sessions)
    with tempfile.TemporaryDirectory() as tmp:
        bot = Path(tmp)
        (bot / "workspace").mkdir()
        logger, records = capture_logger("bench")
        # One slot per session: a reply never waits for the benchmark to read it.
        out_send, out_receive = trio.open_memory_channel[OutboundMessage](sessions)
        in_send, in_receive = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
        async with _provider(mode, latency) as provider:
            deps = build_deps(
                config,
                provider=provider,
                bare_model="bench",
                registry=ToolRegistry.of([]),
                workspace=bot / "workspace",
                sessions_dir=bot / "sessions",
                outbound=out_send,
                logger=logger,
            )
            router = SessionRouter(deps=deps, inbox=in_receive)
            async with trio.open_nursery() as nursery:
                await nursery.start(router.run)
                # Phase 1: timing (no tracing, it would slow everything down).
                rss_before = _rss_kb()
                started = time.perf_counter()
                await _run_turns(in_send, out_receive, "t", sessions, turns)
                wall = time.perf_counter() - started
                rss_after = _rss_kb()
                # Phase 2: memory of idle sessions, traced, with as many fresh sessions.
                _drain(records)
                tracemalloc.start()
                mem_before = tracemalloc.get_traced_memory()[0]
                await _run_turns(in_send, out_receive, "m", sessions, 1)
                _drain(records)
                await trio.sleep(0.1)
                mem_after = tracemalloc.get_traced_memory()[0]
                tracemalloc.stop()
                stats = router.statistics()
                router.stopping.set()
    ideal = turns * latency
    print(f"mode={mode} sessions={sessions} turns={turns} latency={latency}s")
    print(f"wall time         {wall:7.3f} s (ideal {ideal:.3f} s, ratio {wall / ideal:.3f})")
    print(
        f"overhead          {(wall - ideal) / turns * 1000:7.1f} ms per sequential turn, "
        f"{(wall - ideal) / (sessions * turns) * 1e6:.0f} us per turn amortised"
    )
    print(f"idle sessions     {stats.active_sessions} alive, {stats.crashed} crashed")
    print(
        f"memory/idle sess. {(mem_after - mem_before) / sessions / 1024:7.1f} KB (tracemalloc), "
        f"{(rss_after - rss_before) / sessions:.1f} KB (RSS delta of phase 1)"
    )
    if sessions >= 1000 and turns == 1 and latency == 1.0:
        print(
            f"goal: wall < 1.5 s {'PASS' if wall < 1.5 else 'FAIL'}; idle session < 50 KB "
            f"{'PASS' if (mem_after - mem_before) / sessions < 50 * 1024 else 'FAIL'}"
        )


def _drain(records: trio.MemoryReceiveChannel[object]) -> None:
    """Drop captured log records (they would count as session memory)."""
    while True:
        try:
            records.receive_nowait()
        except trio.WouldBlock:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("inprocess", "http"), default="inprocess")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    if args.sessions < 1 or args.turns < 1 or args.latency <= 0:
        parser.error("sessions and turns must be >= 1 and latency > 0")
    trio.run(bench, args.mode, args.sessions, args.turns, args.latency)


if __name__ == "__main__":
    main()
