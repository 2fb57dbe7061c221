"""CRON messages in the session router and agent actor: what the model is told, the
job id in the tool context, and how `ScheduledRun.done` learns the end of every run
(a reply, a refused LLM call, a full mailbox, a crash, a stop)."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing
from router_harness import Harness, running_router

from autobot.agent.router import BUSY_TEXT, SESSION_MAILBOX_SIZE
from autobot.agent.session import crash_apology
from autobot.channels.base import InboundKind, InboundMessage, OutboundMessage, ScheduledRun
from autobot.llm.types import LLMRequest, LLMResponse
from autobot.testing.fake_tools import FakeTool
from autobot.testing.scripted_llm import ScriptedProvider, last_user_text, text_reply, tool_reply

JOB = "0000abcd"


def fired(
    chat: str, text: str
) -> tuple[InboundMessage, trio.MemoryReceiveChannel[OutboundMessage]]:
    """A CRON message for `test:<chat>` and the receive side of its done channel."""
    done, report = trio.open_memory_channel[OutboundMessage](1)
    message = InboundMessage(
        channel="test",
        chat_id=chat,
        content=text,
        kind=InboundKind.CRON,
        scheduled=ScheduledRun(job_id=JOB, name="water", done=done),
    )
    return message, report


async def ended(report: trio.MemoryReceiveChannel[OutboundMessage]) -> OutboundMessage:
    with trio.fail_after(3600):
        outcome = await report.receive()
    async for _ in report:  # one report only, then the channel is closed
        raise AssertionError("a scheduled run reported twice")
    return outcome


async def test_a_scheduled_turn_is_told_so_and_reports_its_reply(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    probe = FakeTool("probe")

    def respond(request: LLMRequest) -> LLMResponse:
        if request.messages[-1].role.value == "user":
            return tool_reply(("probe", {}))
        return text_reply(f"Reminder sent after: {last_user_text(request.messages)[:40]}")

    provider = ScriptedProvider(responder=respond, latency=1.0)
    async with running_router(tmp_path, provider=provider, tools=[probe]) as h:
        message, report = fired("7", "Remind the user to drink water")
        await h.send.send(message)
        reply = await ended(report)
        assert (await h.reply())[:2] == ("7", reply.content)
        await h.say("7", "thanks")
        await h.reply()
    assert reply.final and not reply.is_error
    prompt = provider.requests[0].messages[-1].content
    assert prompt == (
        f"[This is a scheduled run of scheduled job 'water' (id {JOB}), not a message from "
        f"the user. Do what the job asks; your reply is sent to this chat. Scheduled jobs "
        f"cannot be added, changed or removed during a scheduled run.]\n"
        f"Remind the user to drink water"
    )
    assert [ctx.scheduled_job for _, ctx in probe.calls] == [JOB, None]


async def test_a_refused_llm_call_ends_the_run_as_an_error(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_router(tmp_path, global_llm=1) as h:
        await h.say("1", "use the only call")
        await h.reply()
        message, report = fired("2", "Remind me")
        await h.send.send(message)
        outcome = await ended(report)
        chat, text, _ = await h.reply()
    assert (outcome.is_error, outcome.failure) == (True, "global LLM rate limit")
    assert chat == "2" and text.startswith("I'm receiving too many requests right now.")


async def test_a_run_refused_by_a_full_mailbox_is_reported(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_router(tmp_path, provider=ScriptedProvider(latency=100.0)) as h:
        for n in range(SESSION_MAILBOX_SIZE + 1):  # one in its turn, the rest queued
            await h.say("9", f"message {n}")
        await trio.testing.wait_all_tasks_blocked()
        message, report = fired("9", "Remind me")
        await h.send.send(message)
        outcome = await ended(report)
        busy = await h.reply()
    assert (outcome.is_error, outcome.failure) == (True, "the session's mailbox was full")
    assert busy[:2] == ("9", BUSY_TEXT)


async def test_a_crash_reports_the_running_and_the_queued_runs(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running_router(tmp_path, provider=ScriptedProvider(latency=5.0)) as h:
        h.store.broken.add("test:3")  # the turn's journal append fails: the actor crashes
        running, running_report = fired("3", "first")
        queued, queued_report = fired("3", "second")
        await h.send.send(running)
        await h.send.send(queued)
        crashed = await ended(running_report)
        dropped = await ended(queued_report)
        assert (await h.reply())[:2] == ("3", crash_apology(0))
    assert crashed.is_error and crashed.content == crash_apology(0)
    assert (dropped.is_error, dropped.failure) == (
        True,
        "the session crashed before this run started",
    )


async def test_a_run_queued_when_the_session_stops_is_reported(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    h: Harness
    async with running_router(tmp_path, provider=ScriptedProvider(latency=5.0)) as h:
        await h.say("4", "a long turn")
        message, report = fired("4", "Remind me")
        await h.send.send(message)
        await trio.testing.wait_all_tasks_blocked()
        h.router.stopping.set()  # the turn in progress finishes; the queued run does not
        outcome = await ended(report)
        assert (await h.reply())[:2] == ("4", "echo: a long turn")
    assert (outcome.is_error, outcome.failure) == (
        True,
        "the session stopped before this run started",
    )
