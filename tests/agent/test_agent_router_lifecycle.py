"""Session state across actor incarnations: rate buckets survive restarts, the
idle stop waits for background consolidation, the history cap, token records.

autojump_clock and a scripted provider with virtual latency: times are exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from router_harness import running_router

from autobot.agent.loop import APOLOGY
from autobot.agent.memory import CONSOLIDATION_SYSTEM
from autobot.agent.session import HISTORY_CAP_WINDOWS
from autobot.config.schema import AgentDefaults, RateLimit, RateLimitConfig
from autobot.llm.types import LLMRequest, LLMResponse
from autobot.logs.records import Level
from autobot.testing.logs import drain
from autobot.testing.scripted_llm import ScriptedProvider, echo_responder, text_reply

BUSY_20S = "I'm receiving too many requests right now. Please try again in 20 seconds."


async def test_rate_buckets_survive_idle_restarts(tmp_path: Path, autojump_clock: Any) -> None:
    """2 LLM calls per 60 s and a 1 s idle timeout: every message finds a fresh
    actor, and still the third call within the window is refused."""
    limits = RateLimitConfig(llm=RateLimit(max_calls=2), tools=RateLimit(max_calls=100))
    defaults = AgentDefaults(idle_timeout_seconds=1.0)
    async with running_router(tmp_path, rate_limits=limits, defaults=defaults) as h:
        start = trio.current_time()
        await h.say("1", "a")  # takes a token at 0
        assert await h.reply() == ("1", "echo: a", start + 1.0)
        await trio.sleep_until(start + 5.0)
        assert h.router.statistics().exited == 1
        await h.say("1", "b")  # 1 + 5/30 tokens left: takes one
        assert await h.reply() == ("1", "echo: b", start + 6.0)
        await trio.sleep_until(start + 10.0)
        assert h.router.statistics().exited == 2
        await h.say("1", "c")  # 1/6 + 10/60 = 1/3 token: refused, 20 s to wait
        assert await h.reply() == ("1", BUSY_20S, start + 10.0)
        refused = [r for r in drain(h.records) if r.message == "LLM call refused"]
        assert [(r.level, dict(r.fields)["reason"]) for r in refused] == [
            (Level.WARN, "session LLM rate limit")
        ]
        await trio.sleep_until(start + 30.0)
        await h.say("1", "d")  # refilled to one token exactly
        assert await h.reply() == ("1", "echo: d", start + 31.0)
        assert h.router.statistics().started == 4
        # another session never shared those buckets
        await h.say("2", "hi")
        assert (await h.reply())[1] == "echo: hi"


async def test_rate_buckets_survive_a_crash(tmp_path: Path, autojump_clock: Any) -> None:
    limits = RateLimitConfig(llm=RateLimit(max_calls=1), tools=RateLimit(max_calls=100))
    async with running_router(tmp_path, rate_limits=limits) as h:
        start = trio.current_time()
        await h.say("1", "a")
        await trio.sleep(0.5)
        h.store.broken.add("test:1")  # the closing journal write fails: crash
        assert await h.reply() == ("1", APOLOGY, start + 1.0)
        await trio.testing.wait_all_tasks_blocked()
        assert h.router.statistics().crashed == 1
        h.store.broken.clear()
        await trio.sleep_until(start + 2.0)
        await h.say("1", "b")  # the crashed actor spent the only token at 0
        text = (await h.reply())[1]
        assert text.endswith("Please try again in 58 seconds.")


async def test_refilled_buckets_are_not_kept(tmp_path: Path, autojump_clock: Any) -> None:
    limits = RateLimitConfig(llm=RateLimit(max_calls=2), tools=RateLimit(max_calls=100))
    async with running_router(
        tmp_path, rate_limits=limits, defaults=AgentDefaults(idle_timeout_seconds=1.0)
    ) as h:
        start = trio.current_time()
        await h.say("1", "a")
        await h.reply()
        await trio.sleep_until(start + 2.0)  # stopped at 2 with half a bucket used
        await trio.testing.wait_all_tasks_blocked()
        stats = h.router.statistics()
        assert (stats.exited, stats.kept_limits) == (1, 1)
    async with running_router(
        tmp_path, rate_limits=limits, defaults=AgentDefaults(idle_timeout_seconds=60.0)
    ) as h:
        await h.say("1", "a")
        await h.reply()
        await trio.sleep(61.0)  # stopped after refilling: nothing to keep
        stats = h.router.statistics()
        assert (stats.exited, stats.kept_limits) == (1, 0)


def _consolidating(latency: float, answer: str) -> ScriptedProvider:
    def respond(request: LLMRequest) -> LLMResponse:
        if request.system == CONSOLIDATION_SYSTEM:
            return text_reply(answer)
        return echo_responder(request)

    return ScriptedProvider(
        responder=respond,
        latency=lambda r: latency if r.system == CONSOLIDATION_SYSTEM else 1.0,
    )


MEMORY_JSON = '{"memory": "- likes tea", "history_entry": "tea"}'


async def test_idle_stop_waits_for_a_running_consolidation(
    tmp_path: Path, autojump_clock: Any
) -> None:
    defaults = AgentDefaults(idle_timeout_seconds=10.0, memory_window=4)
    provider = _consolidating(100.0, MEMORY_JSON)
    async with running_router(tmp_path, provider=provider, defaults=defaults) as h:
        start = trio.current_time()
        for i in range(3):
            await h.say("1", f"m{i}")
            await h.reply()
        # consolidation runs from 3 to 103; idle deadlines at 13, 23... pass
        await trio.sleep_until(start + 50.0)
        assert h.router.statistics().exited == 0
        await h.say("1", "still you?")  # handled by the same incarnation
        assert await h.reply() == ("1", "echo: still you?", start + 51.0)
        assert h.router.statistics().started == 1
        await trio.sleep_until(start + 103.0)
        await trio.testing.wait_all_tasks_blocked()
        assert (h.workspace / "memory" / "MEMORY.md").read_text() == "- likes tea\n"
        # idle deadlines every 10 s after the last turn (51): 61..101 are busy,
        # 111 is the first one with nothing running
        await trio.sleep_until(start + 110.999)
        assert h.router.statistics().exited == 0
        await trio.sleep_until(start + 111.0)
        await trio.testing.wait_all_tasks_blocked()
        assert h.router.statistics().exited == 1
    assert h.store.load("test:1").consolidated_upto == 4


async def test_history_is_capped_when_consolidation_keeps_failing(
    tmp_path: Path, autojump_clock: Any
) -> None:
    window = 2
    defaults = AgentDefaults(idle_timeout_seconds=1000.0, memory_window=window)
    provider = _consolidating(1.0, "not json")
    async with running_router(tmp_path, provider=provider, defaults=defaults) as h:
        for i in range(6):
            await h.say("1", f"m{i}")
            await h.reply()
            await trio.sleep(5)  # let the (failing) consolidation finish
        records = drain(h.records)
    turns = [r for r in provider.requests if r.system != CONSOLIDATION_SYSTEM]
    sizes = [len(r.messages) for r in turns]
    # 1, 3, 5, then 7 > cap 6: the context restarts at the newest user message
    assert HISTORY_CAP_WINDOWS * window == 6
    assert sizes == [1, 3, 5, 1, 3, 5]
    assert [m.content for m in turns[3].messages] == ["m3"]
    capped = [r for r in records if r.message.startswith("History over its hard cap")]
    assert [r.level for r in capped] == [Level.WARN]
    assert ("session", "test:1") in capped[0].fields and ("dropped", "6") in capped[0].fields
    assert sum(r.message == "Memory consolidation failed" for r in records) >= 3
    # the journal keeps every message; the cut is recorded so a reload stays capped
    loaded = h.store.load("test:1")
    assert len(loaded.messages) == 12
    assert loaded.consolidated_upto == 6


async def test_every_llm_call_writes_a_tokens_record(tmp_path: Path, autojump_clock: Any) -> None:
    """Turns and memory consolidation alike (subagents run turns)."""
    defaults = AgentDefaults(idle_timeout_seconds=1000.0, memory_window=2)
    provider = _consolidating(1.0, MEMORY_JSON)
    async with running_router(tmp_path, provider=provider, defaults=defaults) as h:
        for i in range(2):
            await h.say("1", f"m{i}")
            await h.reply()
        await trio.sleep(5)
        records = drain(h.records)
    assert [r.system for r in provider.requests].count(CONSOLIDATION_SYSTEM) == 1
    tokens = [r for r in records if r.message.startswith("Tokens: ")]
    assert len(tokens) == len(provider.requests) == 3
    # each call costs 15; the consolidation's record counts it in the session's spend
    assert [r.message for r in tokens] == [
        "Tokens: in=10 out=5 session=15",
        "Tokens: in=10 out=5 session=30",
        "Tokens: in=10 out=5 session=45",
    ]
    assert all(r.source == "agent:test:1" and ("model", "m") in r.fields for r in tokens)
