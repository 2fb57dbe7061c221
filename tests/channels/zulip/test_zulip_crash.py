"""`kill -9` of the real gateway mid-message: every message answered exactly once after a restart.

The gateway runs as a child process (`python -m autobot --config ... gateway`,
the real command, Zulip enabled in its config) against the loopback Zulip fake and a slow model fake in
this test process. A user writes; the gateway is killed with SIGKILL and
started again. The fake records every message the bot sends: each message
must be answered exactly once. Two moments are killed:

- journaled: the model has the request (the turn runs), the message is in
  the inbound journal and acknowledged to Zulip, which no longer holds it:
  the journal is the only copy, and the restart replays it;
- not yet journaled: the channel is still downloading the message's upload
  (the download stalls), so nothing is journaled or acknowledged: the
  restarted gateway resumes the same event queue (saved in `state/`) and
  Zulip delivers the message again.

In normal operation too, many messages from several users get one reply each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from autobot.channels.inbound_journal import InboundJournal, inbound_journal_path
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_zulip import serve_fake_zulip
from autobot.testing.llm_script import ScriptedReply, Step
from autobot.testing.processes import host_processes_with
from autobot.testing.telegram_bot import last_user_text
from autobot.testing.zulip.faults import Fault

from .bot import make_zulip_bot
from .test_zulip_gateway import free_port

SLOW_MODEL_SECONDS = 5.0  # the turn the gateway is killed in never gets its answer
START_BOUND = 60.0  # a real process on a loaded 2-core machine; nothing asserts a duration
STEP_SECONDS = 30.0
POLL_SECONDS = 0.05  # how often the test looks at the fakes while a process works


def echo_last_line(body: Mapping[str, Any]) -> str:
    return "echo: " + last_user_text(body).splitlines()[-1]


def slow_first_echo() -> Callable[[Mapping[str, Any]], Step]:
    """A model that takes `SLOW_MODEL_SECONDS` for its first request, then
    answers every request at once (`echo_last_line`)."""
    requests = 0

    def answer(body: Mapping[str, Any]) -> Step:
        nonlocal requests
        requests += 1
        latency = SLOW_MODEL_SECONDS if requests == 1 else 0.0
        return ScriptedReply(text=echo_last_line(body), latency=latency)

    return answer


def _environ() -> dict[str, str]:
    """This environment without API keys: the bot's `.env` provides its own."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@asynccontextmanager
async def gateway_process(config: Path, log: Path) -> AsyncIterator[trio.Process]:
    """The gateway for `config`, its stderr appended to `log`; killed if the
    block ends while it still runs."""
    with log.open("ab") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "autobot", "--config", str(config), "gateway"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=_environ(),
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()


def output(log: Path) -> str:
    """What the gateway processes wrote to stderr (for failure messages)."""
    return log.read_text()


async def until(condition: Callable[[], bool], process: trio.Process, log: Path) -> None:
    """Wait (real time) until `condition()` holds while `process` keeps running."""
    with trio.fail_after(START_BOUND):
        while not condition():
            assert process.poll() is None, f"the gateway exited:\n{output(log)}"
            await trio.sleep(POLL_SECONDS)


async def stop_gracefully(process: trio.Process, log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(START_BOUND):
        assert await process.wait() == 0, output(log)


def pending_journal_entries(config: Path) -> int:
    with InboundJournal.open(inbound_journal_path(config.parent, "zulip")).journal as journal:
        return journal.backlog


async def killed(config: Path, process: trio.Process) -> None:
    process.kill()
    assert await process.wait() == -signal.SIGKILL
    workspace = str(config.parent / "workspace")
    with trio.fail_after(STEP_SECONDS):  # its sandbox workers die with it
        while host_processes_with(workspace):  # noqa: ASYNC110 -- other processes
            await trio.sleep(POLL_SECONDS)


@pytest.mark.parametrize("journaled", [True, False], ids=["journaled", "not-yet-journaled"])
async def test_kill_9_then_restart_answers_the_message_once(
    tmp_path: Path, journaled: bool
) -> None:
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_zulip() as zulip,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        alice = zulip.add_user("Alice", "alice@example.com")
        notes = zulip.add_upload(b"milk, eggs", "notes.txt")
        config = make_zulip_bot(
            tmp_path, zulip=zulip, model_url=model.base_url, allow_from=["*"], port=free_port()
        )
        text = "remember the milk" if journaled else f"[notes.txt]({notes}) remember the milk"
        async with gateway_process(config, log) as first:
            await until(lambda: zulip.waiting_polls > 0, first, log)
            if not journaled:
                zulip.fail_next("download", Fault.stall())
            zulip.send_direct(alice, text)
            if journaled:
                await until(lambda: len(model.requests) == 1, first, log)  # the turn runs
                await until(lambda: zulip.pending_events() == 0, first, log)  # acknowledged
            else:
                await until(lambda: bool(zulip.calls_to("download")), first, log)
                assert zulip.pending_events() == 1 and model.requests == []
            await killed(config, first)
        assert zulip.sent == []  # killed before any answer
        async with gateway_process(config, log) as second:
            with trio.fail_after(STEP_SECONDS):
                reply = await zulip.next_direct(alice)
            assert reply.content == f"echo: {text}"
            zulip.send_direct(alice, "and eggs")  # anything still coming comes before it
            with trio.fail_after(STEP_SECONDS):
                later = await zulip.next_direct(alice)
            assert later.content == "echo: and eggs"
            await stop_gracefully(second, log)
    assert [m.content for m in zulip.direct_to(alice)] == [f"echo: {text}", "echo: and eggs"]
    assert zulip.registered == 1  # the restarted gateway resumed the same queue
    assert pending_journal_entries(config) == 0
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    killed_turn = [text] if journaled else []  # asked again after the restart
    assert asked == [*killed_turn, text, "and eggs"]
    if not journaled:
        assert (config.parent / "workspace" / "inbox").is_dir()
        [saved] = (config.parent / "workspace" / "inbox").iterdir()
        assert saved.read_bytes() == b"milk, eggs"


async def test_many_messages_are_each_answered_once(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    per_user = 6
    async with (
        serve_fake_zulip() as zulip,
        serve_fake_anthropic(
            handler=lambda body: ScriptedReply(text="echo: " + last_user_text(body))
        ) as model,
    ):
        people = [zulip.add_user(f"U{n}", f"u{n}@example.com") for n in range(4)]
        config = make_zulip_bot(
            tmp_path, zulip=zulip, model_url=model.base_url, allow_from=["*"], port=free_port()
        )
        async with gateway_process(config, log) as process:
            await until(lambda: zulip.waiting_polls > 0, process, log)
            for round_ in range(per_user):  # bursts: several events per poll
                for user in people:
                    zulip.send_direct(user, f"{user.id} says {round_}")
                await trio.sleep(POLL_SECONDS)
            await until(
                lambda: all(len(zulip.direct_to(u)) >= per_user for u in people), process, log
            )
            for user in people:  # one more each: anything still coming comes before it
                zulip.send_direct(user, "last")
            await until(
                lambda: all(len(zulip.direct_to(u)) >= per_user + 1 for u in people),
                process,
                log,
            )
            await stop_gracefully(process, log)
    for user in people:
        assert [m.content for m in zulip.direct_to(user)] == [
            *(f"echo: {user.id} says {n}" for n in range(per_user)),
            "echo: last",
        ]
    assert len(model.requests) == len(people) * (per_user + 1)
    assert pending_journal_entries(config) == 0
