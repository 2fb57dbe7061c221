"""Session router and agent actors: ordering, isolation, idle eviction, crashes, limits.

All under autojump_clock with a scripted provider whose latency is virtual,
so every time asserted is exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from router_harness import OUTBOX, Harness, running_router

from autobot.agent.loop import APOLOGY
from autobot.agent.memory import CONSOLIDATION_SYSTEM
from autobot.agent.router import BUSY_TEXT, SESSION_MAILBOX_SIZE
from autobot.agent.session import SUBAGENT_SYSTEM, crash_apology
from autobot.agent.session_store import SessionStore, encode_message
from autobot.channels.base import OutboundMessage
from autobot.config.schema import AgentDefaults, Budget, RateLimit, RateLimitConfig
from autobot.llm.types import ChatMessage, LLMRequest, LLMResponse, Role
from autobot.logs.records import Level
from autobot.testing.fake_tools import FakeTool
from autobot.testing.logs import drain
from autobot.testing.scripted_llm import (
    ScriptedProvider,
    echo_responder,
    last_user_text,
    text_reply,
    tool_reply,
)


async def _replies(h: Harness, n: int) -> list[tuple[str, str, float]]:
    return [await h.reply() for _ in range(n)]


async def test_messages_of_one_session_are_handled_in_order(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_router(tmp_path) as h:
        start = trio.current_time()
        for text in ("one", "two", "three"):
            await h.say("1", text)
        got = await _replies(h, 3)
    assert [(c, t, at - start) for c, t, at in got] == [
        ("1", "echo: one", 1.0),
        ("1", "echo: two", 2.0),
        ("1", "echo: three", 3.0),
    ]
    # the second turn saw the first exchange
    assert [m.content for m in h.provider.requests[1].messages] == [
        "one",
        "echo: one",
        "two",
    ]


async def test_sessions_run_concurrently(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_router(tmp_path) as h:
        start = trio.current_time()
        for chat in range(50):
            await h.say(str(chat), f"hi {chat}")
        got = await _replies(h, 50)
    assert {at - start for _, _, at in got} == {1.0}
    assert sorted(text for _, text, _ in got) == sorted(f"echo: hi {c}" for c in range(50))
    assert h.router.statistics().started == 50


async def test_idle_actor_stops_and_comes_back_with_its_history(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_router(tmp_path) as h:
        start = trio.current_time()
        await h.say("1", "remember blue")
        assert (await h.reply())[1] == "echo: remember blue"
        await trio.sleep_until(start + 1 + 59.999)
        assert h.router.statistics().active_sessions == 1
        await trio.sleep_until(start + 1 + 60)
        await trio.testing.wait_all_tasks_blocked()
        stats = h.router.statistics()
        assert (stats.active_sessions, stats.exited) == (0, 1)
        assert h.router.supervisor.which_children() == ()
        await h.say("1", "what colour?")
        assert (await h.reply())[1] == "echo: what colour?"
        assert h.router.statistics().started == 2
    revived = h.provider.requests[-1].messages
    assert [m.content for m in revived] == ["remember blue", "echo: remember blue", "what colour?"]


async def test_only_sessions_with_a_journal_read_it_before_their_first_turn(
    tmp_path: Path, autojump_clock: Any
) -> None:
    """The router indexes the journals on start: a conversation from before
    the start reads its history; a new one goes to the model without a read."""
    old = SessionStore(tmp_path / "sessions", tmp_path / "workspace")
    old.append("test:old", [encode_message(ChatMessage(role=Role.USER, content="I like tea"))])
    async with running_router(tmp_path) as h:
        await h.say("old", "what do I like?")
        await h.say("new", "hello")
        assert {(await h.reply())[0] for _ in range(2)} == {"old", "new"}
        assert h.store.loads == ["test:old"]
        seen = {
            r.messages[-1].content: [m.content for m in r.messages] for r in h.provider.requests
        }
        assert seen["what do I like?"] == ["I like tea", "what do I like?"]
        assert seen["hello"] == ["hello"]
        await trio.sleep(120)  # both go idle and stop; their journals are now indexed
        await h.say("new", "again")
        assert (await h.reply())[1] == "echo: again"
        assert h.store.loads == ["test:old", "test:new"]


async def test_a_crash_in_one_session_never_touches_another(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_router(tmp_path) as h:
        h.store.broken.add("test:bad")
        start = trio.current_time()
        for chat in ("a", "bad", "b"):
            await h.say(chat, "hello")
        got = {chat: (text, at - start) for chat, text, at in await _replies(h, 3)}
        assert got == {
            "a": ("echo: hello", 1.0),
            "b": ("echo: hello", 1.0),
            "bad": (APOLOGY, 0.0),  # the journal write of the user message failed at once
        }
        await trio.testing.wait_all_tasks_blocked()
        assert h.router.statistics().crashed == 1
        records = drain(h.records)
        crash = [r for r in records if r.message == "Session actor crashed"]
        assert len(crash) == 1 and crash[0].exc_text and "No space left" in crash[0].exc_text
        assert any(r.message == "Session actor failed" for r in records)
        # others keep answering while the bad one is down, and it recovers once the disk does
        await h.say("a", "still there?")
        assert (await h.reply())[:2] == ("a", "echo: still there?")
        h.store.broken.clear()
        await h.say("bad", "again")
        assert (await h.reply())[:2] == ("bad", "echo: again")


async def test_messages_queued_behind_a_crash_are_named_in_the_apology(
    tmp_path: Path, autojump_clock: Any
) -> None:
    """Three messages reach a session whose disk fails: the crash drops the two
    queued behind the first, and the one apology says so (none vanishes
    silently); the next message reaches a fresh actor."""
    async with running_router(tmp_path) as h:
        h.store.broken.add("test:bad")
        for text in ("one", "two", "three"):
            await h.say("bad", text)
        assert (await h.reply())[:2] == ("bad", crash_apology(2))
        assert "your next 2 messages" in crash_apology(2)
        assert "your next message" in crash_apology(1) and crash_apology(0) == APOLOGY
        await trio.testing.wait_all_tasks_blocked()
        dropped = [r for r in drain(h.records) if r.message.startswith("Messages dropped")]
        assert [dict(r.fields)["unread"] for r in dropped] == ["2"]
        h.store.broken.clear()
        await h.say("bad", "four")
        assert (await h.reply())[:2] == ("bad", "echo: four")
        assert h.replies.statistics().current_buffer_used == 0  # one reply per crash, no more


async def test_a_message_sent_while_the_crash_apology_waits_reaches_a_fresh_actor(
    tmp_path: Path, autojump_clock: Any
) -> None:
    """The crashed actor closes its mailbox before its apology waits on a full
    outbox, so a message sent meanwhile is not stranded in the dead mailbox."""
    async with running_router(tmp_path) as h:
        filler = OutboundMessage(channel="test", chat_id="x", content="filler", final=True)
        for _ in range(OUTBOX):
            h.router.deps.outbound.send_nowait(filler)
        h.store.broken.add("test:bad")
        await h.say("bad", "one")
        await trio.sleep(1.0)  # the actor crashed at once; its apology waits for room
        h.store.broken.clear()
        await h.say("bad", "late")
        for _ in range(OUTBOX):
            assert (await h.reply())[1] == "filler"
        got = {(await h.reply())[1] for _ in range(2)}
        assert got == {APOLOGY, "echo: late"}


async def test_crash_mid_turn_while_others_keep_answering(
    tmp_path: Path, autojump_clock: Any
) -> None:
    """The bad session's disk fails at the end of its turn, while a slow turn of
    another session is in flight: that turn still completes on time."""
    provider = ScriptedProvider(
        latency=lambda r: 5.0 if last_user_text(r.messages) == "slow" else 1.0
    )
    async with running_router(tmp_path, provider=provider) as h:
        start = trio.current_time()
        await h.say("slow", "slow")
        await h.say("bad", "hello")
        await trio.sleep(0.5)
        h.store.broken.add("test:bad")
        first = await h.reply()
        second = await h.reply()
        assert (first[0], first[1], first[2] - start) == ("bad", APOLOGY, 1.0)
        assert (second[0], second[1], second[2] - start) == ("slow", "echo: slow", 5.0)


async def test_full_session_mailbox_gets_a_busy_reply_without_blocking_others(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_router(tmp_path) as h:
        start = trio.current_time()
        # the first message is taken at once; SESSION_MAILBOX_SIZE more fill the mailbox
        for i in range(SESSION_MAILBOX_SIZE + 2):
            await h.say("flood", f"m{i}")
            await trio.testing.wait_all_tasks_blocked()
        await h.say("calm", "hi")
        busy = await h.reply()
        assert (busy[1], busy[2] - start) == (BUSY_TEXT, 0.0)
        calm = [r for r in await _replies(h, 2) if r[0] == "calm"]
        assert calm == [("calm", "echo: hi", start + 1.0)]
        assert h.router.statistics().busy_refusals == 1


async def test_one_session_exhausting_its_limits_never_slows_another(
    tmp_path: Path, autojump_clock: Any
) -> None:
    limits = RateLimitConfig(llm=RateLimit(max_calls=2), tools=RateLimit(max_calls=100))
    async with running_router(tmp_path, rate_limits=limits) as h:
        start = trio.current_time()
        for i in range(3):
            await h.say("greedy", f"g{i}")
        greedy = await _replies(h, 3)
        assert greedy[-1][1].startswith("I'm receiving too many requests")
        await h.say("other", "hi")
        assert await h.reply() == ("other", "echo: hi", start + 3.0)
        assert any(
            r.level is Level.WARN and r.message == "LLM call refused" for r in drain(h.records)
        )


async def test_global_ceiling_applies_across_sessions(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_router(tmp_path, global_llm=3) as h:
        for chat in "abcd":
            await h.say(chat, "hi")
        texts = sorted(text for _, text, _ in await _replies(h, 4))
    assert texts.count("echo: hi") == 3
    refused = next(t for t in texts if t != "echo: hi")
    assert refused.startswith("I'm receiving too many requests")


async def test_session_budget_survives_idle_eviction(tmp_path: Path, autojump_clock: Any) -> None:
    defaults = AgentDefaults(idle_timeout_seconds=10.0, budget=Budget(session_daily_tokens=20))
    async with running_router(tmp_path, defaults=defaults) as h:
        await h.say("1", "a")  # costs 15 tokens (10 in + 5 out)
        await h.reply()
        await trio.sleep(30)
        assert h.router.statistics().exited == 1
        await h.say("1", "b")  # 15 < 20: allowed, now 30
        assert (await h.reply())[1] == "echo: b"
        await h.say("1", "c")
        assert (await h.reply())[1].startswith("This conversation has used its token budget")


async def test_a_turn_is_journalled_with_one_sync_before_its_reply(
    tmp_path: Path, autojump_clock: Any
) -> None:
    """The user message is on disk (unsynced: it survives a crash of the
    process) before the model answers; the turn's entries are appended and
    fsync-ed, which syncs the user message too, before the reply goes out."""
    async with running_router(tmp_path, provider=ScriptedProvider(latency=5.0)) as h:
        start = trio.current_time()
        await h.say("1", "hello")
        await trio.sleep(4.0)  # the model is still thinking
        assert [m.content for m in h.store.inner.load("test:1").messages] == ["hello"]
        assert h.store.appends == [("test:1", ("user",), False)]
        assert await h.reply() == ("1", "echo: hello", start + 5.0)
        # recorded before the reply was sent
        assert h.store.appends == [
            ("test:1", ("user",), False),
            ("test:1", ("assistant", "usage"), True),
        ]


async def test_no_reply_is_sent_when_the_closing_sync_fails(
    tmp_path: Path, autojump_clock: Any
) -> None:
    async with running_router(tmp_path) as h:
        start = trio.current_time()
        await h.say("1", "hello")
        await trio.sleep(0.5)
        h.store.broken.add("test:1")  # the disk fails while the model works
        assert await h.reply() == ("1", APOLOGY, start + 1.0)  # never "echo: hello"
        await trio.testing.wait_all_tasks_blocked()
        assert h.router.statistics().crashed == 1
        assert [m.content for m in h.store.inner.load("test:1").messages] == ["hello"]
        assert h.store.appends == [("test:1", ("user",), False)]


async def test_tool_use_through_the_router_and_the_journal(
    tmp_path: Path, autojump_clock: Any
) -> None:
    provider = ScriptedProvider.from_script(
        [tool_reply(("lookup", {"x": "q"})), text_reply("found it")], latency=1.0
    )
    tool = FakeTool("lookup", reply="42")
    async with running_router(tmp_path, provider=provider, tools=[tool]) as h:
        await h.say("1", "find")
        assert await h.reply() == ("1", "found it", trio.current_time())
    loaded = h.store.load("test:1")
    assert [m.role for m in loaded.messages] == [
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.ASSISTANT,
    ]
    assert loaded.tokens_by_day == {"2026-01-01": 30}
    assert tool.calls[0][1].session_key == "test:1"


async def test_consolidation_runs_in_the_background_without_blocking_replies(
    tmp_path: Path, autojump_clock: Any
) -> None:
    def respond(request: LLMRequest) -> LLMResponse:
        if request.system == CONSOLIDATION_SYSTEM:
            return text_reply('{"memory": "- likes tea", "history_entry": "Talked\\nabout tea."}')
        return echo_responder(request)

    provider = ScriptedProvider(
        responder=respond,
        latency=lambda r: 100.0 if r.system == CONSOLIDATION_SYSTEM else 1.0,
    )
    defaults = AgentDefaults(idle_timeout_seconds=1000.0, memory_window=4)
    async with running_router(tmp_path, provider=provider, defaults=defaults) as h:
        start = trio.current_time()
        for i in range(3):
            await h.say("1", f"m{i}")
            assert await h.reply() == ("1", f"echo: m{i}", start + i + 1.0)
        # 6 messages > window 4: consolidation started at t=3 and takes 100 s;
        # replies keep coming every second meanwhile
        for i in range(3, 6):
            await h.say("1", f"m{i}")
            assert await h.reply() == ("1", f"echo: m{i}", start + i + 1.0)
        assert not (h.workspace / "memory" / "MEMORY.md").exists()
        await trio.sleep_until(start + 103.0)
        await trio.testing.wait_all_tasks_blocked()
        assert (h.workspace / "memory" / "MEMORY.md").read_text() == "- likes tea\n"
        history = (h.workspace / "memory" / "HISTORY.md").read_text()
        assert history == "[2026-01-01 00:00] Talked about tea.\n"
        await h.say("1", "next")
        await h.reply()
    last = [r for r in h.provider.requests if r.system != CONSOLIDATION_SYSTEM][-1]
    assert last.messages[0].content == "m2"  # m0..m1 and their replies were folded away
    assert "- likes tea" in last.system
    assert h.store.load("test:1").consolidated_upto == 4


async def test_consolidation_failure_is_logged_and_replies_continue(
    tmp_path: Path, autojump_clock: Any
) -> None:
    def respond(request: LLMRequest) -> LLMResponse:
        if request.system == CONSOLIDATION_SYSTEM:
            return text_reply("not json at all")
        return echo_responder(request)

    defaults = AgentDefaults(idle_timeout_seconds=1000.0, memory_window=2)
    async with running_router(
        tmp_path, provider=ScriptedProvider(responder=respond, latency=1.0), defaults=defaults
    ) as h:
        for i in range(3):
            await h.say("1", f"m{i}")
            assert (await h.reply())[1] == f"echo: m{i}"
        await trio.sleep(5)
        errors = [r for r in drain(h.records) if r.message == "Memory consolidation failed"]
        assert errors and errors[0].level is Level.ERROR
        assert h.store.load("test:1").consolidated_upto == 0


async def test_consolidation_refuses_a_memory_symlink_out_of_the_workspace(
    tmp_path: Path, autojump_clock: Any
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()

    def respond(request: LLMRequest) -> LLMResponse:
        if request.system == CONSOLIDATION_SYSTEM:
            return text_reply('{"memory": "pwned", "history_entry": "x"}')
        return echo_responder(request)

    defaults = AgentDefaults(idle_timeout_seconds=1000.0, memory_window=2)
    async with running_router(
        tmp_path, provider=ScriptedProvider(responder=respond, latency=1.0), defaults=defaults
    ) as h:
        (h.workspace / "memory").symlink_to(outside)
        for i in range(3):
            await h.say("1", f"m{i}")
            await h.reply()
        await trio.sleep(5)
    assert list(outside.iterdir()) == []


async def test_spawned_subagent_reports_back_into_the_conversation(
    tmp_path: Path, autojump_clock: Any
) -> None:
    def respond(request: LLMRequest) -> LLMResponse:
        text = last_user_text(request.messages)
        names = {t.name for t in request.tools}
        if request.system == SUBAGENT_SYSTEM:
            assert names == {"lookup"}  # reduced tool set: no spawn, no message
            if request.messages[-1].role is Role.TOOL:
                return text_reply("the answer is 42")
            return tool_reply(("lookup", {"x": "deep"}), id_prefix="sub")
        if text == "research this":
            if request.messages[-1].role is Role.TOOL:
                return text_reply("I started it.")
            return tool_reply(("spawn", {"task": "dig deep", "label": "dig"}))
        return text_reply(f"relay: {text}")

    provider = ScriptedProvider(responder=respond, latency=1.0)
    tools = [FakeTool("lookup", reply="42"), FakeTool("message")]
    async with running_router(tmp_path, provider=provider, tools=tools) as h:
        start = trio.current_time()
        await h.say("1", "research this")
        assert await h.reply() == ("1", "I started it.", start + 2.0)
        chat, text, at = await h.reply()
    assert chat == "1"
    assert text.startswith("relay: [A background task finished")
    assert "Task 'dig': the answer is 42" in text
    # the subagent starts at t=1 (while the parent's second call runs), makes two
    # 1 s calls, reports at t=3; the relay turn answers at t=4
    assert at == start + 4.0
    systems = [r.system for r in provider.requests]
    assert systems.count(SUBAGENT_SYSTEM) == 2  # the subagent's own two calls
    # the parent's three calls (ask, after spawn, relay) keep the full tool set
    parent = [r for r in provider.requests if r.system != SUBAGENT_SYSTEM]
    assert len(parent) == 3 and all("spawn" in {t.name for t in r.tools} for r in parent)


async def test_router_stops_gracefully(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_router(tmp_path) as h:
        await h.say("1", "hi")
        await h.reply()
        start = trio.current_time()
    assert trio.current_time() - start < 1.0
    assert h.router.statistics().active_sessions == 0


async def test_records_carry_session_sources(tmp_path: Path, autojump_clock: Any) -> None:
    async with running_router(tmp_path) as h:
        await h.say("42", "hi")
        await h.reply()
        tokens = [r for r in drain(h.records) if r.message.startswith("Tokens:")]
    assert tokens[0].source == "agent:test:42"
    assert tokens[0].message == "Tokens: in=10 out=5 session=15"


async def test_at_most_three_subagents_per_session(tmp_path: Path, autojump_clock: Any) -> None:
    def respond(request: LLMRequest) -> LLMResponse:
        if request.system.startswith("You are a background"):
            return text_reply("sub done")
        if request.messages[-1].role is Role.TOOL:
            results = [m for m in request.messages if m.role is Role.TOOL]
            return text_reply(" | ".join(m.content[:20] for m in results))
        if last_user_text(request.messages) == "go":
            return tool_reply(*[("spawn", {"task": f"t{i}"}) for i in range(4)])
        return text_reply("relayed")

    provider = ScriptedProvider(responder=respond, latency=1.0)
    async with running_router(tmp_path, provider=provider) as h:
        await h.say("1", "go")
        text = (await h.reply())[1]
        assert text.count("Started background") == 3
        assert text.endswith("At most 3 background")
        relays = [await h.reply() for _ in range(3)]
    assert [r[1] for r in relays] == ["relayed"] * 3
