"""`kill -9` of a gateway with WhatsApp mid-turn: the message is answered once, after the restart.

The gateway runs as a child process (`python -m autobot --config ... gateway`,
the real command, WhatsApp enabled in its config) against the fake bridge and a slow
model fake in this test process. A user writes; once the model has the
request (the turn is running) the gateway is killed with SIGKILL and started
again. The bridge records every message it sent: the user must get exactly
one answer. Two moments are killed: after the bridge received the channel's
acknowledgement (the inbound journal is then the only copy: nothing is
delivered again) and with the acknowledgement lost (the bridge delivers the
message again after the restart: the journal drops the duplicate). And a
message with a file, killed after the bridge downloaded it but before the
journal held it: the bridge delivers it again, it is fetched again into the
same file (no second copy), and answered once.
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

from autobot.channels.base import AttachmentKind
from autobot.channels.inbound_journal import InboundJournal, inbound_journal_path
from autobot.channels.whatsapp.endpoint import UrlEndpoint
from autobot.channels.whatsapp.protocol import Media
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    SendFault,
    direct_message,
    inbox_name,
    serve_fake_bridge,
    user_jid,
)
from autobot.testing.llm_script import FakeLLM, ScriptedReply, Step
from autobot.testing.processes import host_processes_with
from autobot.testing.telegram_bot import last_user_text
from autobot.testing.whatsapp_bot import make_whatsapp_bot

KEY = bytes(range(32))
ALICE = "+15551234567"
SLOW_MODEL_SECONDS = 5.0  # the turn the gateway is killed in never gets its answer
START_BOUND = 60.0  # a real process on a loaded 2-core machine; nothing asserts a duration
STEP_SECONDS = 30.0
POLL_SECONDS = 0.05  # how often the test looks at the fakes while a process works


def slow_first_echo() -> Callable[[Mapping[str, Any]], Step]:
    """A model that takes `SLOW_MODEL_SECONDS` for its first request (the turn
    that is killed), then echoes the last line of every request at once."""
    requests = 0

    def answer(body: Mapping[str, Any]) -> Step:
        nonlocal requests
        requests += 1
        latency = SLOW_MODEL_SECONDS if requests == 1 else 0.0
        return ScriptedReply(text="echo: " + last_user_text(body).splitlines()[-1], latency=latency)

    return answer


def echo(body: Mapping[str, Any]) -> Step:
    """A model that echoes the last line of every request at once."""
    return ScriptedReply(text="echo: " + last_user_text(body).splitlines()[-1])


def _environ() -> dict[str, str]:
    """This environment without API keys: the bot's `.env` provides its own."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@asynccontextmanager
async def gateway_process(config: Path, log: Path) -> AsyncIterator[trio.Process]:
    """The gateway of `config`, its stderr appended to `log`; killed if the
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


def pending_journal_entries(config: Path) -> int:
    with InboundJournal.open(inbound_journal_path(config.parent, "whatsapp")).journal as journal:
        return journal.backlog


def bot(tmp_path: Path, bridge: FakeBridge, model: FakeLLM) -> Path:
    [url] = [e.url for e in bridge.endpoints if isinstance(e, UrlEndpoint)]
    return make_whatsapp_bot(
        tmp_path, model_url=model.base_url, bridge_url=url, key=KEY, allow_from=[ALICE]
    )


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acknowledged", "ack-lost"])
async def test_kill_9_mid_turn_then_restart_answers_the_message_once(
    tmp_path: Path, acknowledged: bool
) -> None:
    log = tmp_path / "gateway.log"
    chat = user_jid(ALICE)
    async with (
        serve_fake_bridge(KEY, tcp=True) as bridge,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        config = bot(tmp_path, bridge, model)
        bridge.ignore_acks = not acknowledged
        async with gateway_process(config, log) as first:
            await until(lambda: bridge.connected, first, log)
            message = bridge.post(
                direct_message(ALICE, "remember the milk", message_id=bridge.message_id())
            )
            await until(lambda: len(model.requests) == 1, first, log)  # the turn runs
            await until(lambda: message.id in bridge.acks, first, log)
            assert (message.id in bridge.pending) is not acknowledged
            first.kill()
            assert await first.wait() == -signal.SIGKILL
        assert bridge.sent_texts(chat) == []  # killed before any answer
        workspace = str(config.parent / "workspace")
        with trio.fail_after(STEP_SECONDS):  # its sandbox workers die with it
            while host_processes_with(workspace):  # noqa: ASYNC110 -- other processes
                await trio.sleep(POLL_SECONDS)
        bridge.ignore_acks = False
        async with gateway_process(config, log) as second:
            await until(lambda: len(bridge.sent_texts(chat)) == 1, second, log)
            bridge.post(direct_message(ALICE, "and eggs", message_id=bridge.message_id()))
            await until(lambda: len(bridge.sent_texts(chat)) == 2, second, log)
            second.send_signal(signal.SIGTERM)
            with trio.fail_after(START_BOUND):
                assert await second.wait() == 0, output(log)
    assert bridge.sent_texts(chat) == ["echo: remember the milk", "echo: and eggs"]
    assert bridge.pending == {}
    # delivered again after the restart only when the acknowledgement was lost
    assert bridge.acks.count(message.id) == (1 if acknowledged else 2)
    assert pending_journal_entries(config) == 0
    # the model was asked again after the restart (the killed turn had no answer)
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    assert asked == ["remember the milk", "remember the milk", "and eggs"]


async def test_kill_9_between_the_fetch_and_the_journal_fetches_again_into_the_same_file(
    tmp_path: Path,
) -> None:
    log = tmp_path / "gateway.log"
    chat = user_jid(ALICE)
    document = Media(kind=AttachmentKind.DOCUMENT, mime_type="application/pdf", size=8)
    async with (
        serve_fake_bridge(KEY, tcp=True) as bridge,
        serve_fake_anthropic(handler=echo) as model,
    ):
        config = bot(tmp_path, bridge, model)
        inbox = config.parent / "workspace" / "inbox"
        bridge.workspace = config.parent / "workspace"
        bridge.fetch_faults.append(SendFault(stall=True))  # downloaded; the answer never leaves
        async with gateway_process(config, log) as first:
            await until(lambda: bridge.connected, first, log)
            message = bridge.post(
                direct_message(
                    ALICE, "the report", message_id=bridge.message_id(), media=[document]
                ),
                content=b"%PDF-1.4",
            )
            await until(lambda: bridge.fetches == [message.id], first, log)
            first.kill()
            assert await first.wait() == -signal.SIGKILL
        assert pending_journal_entries(config) == 0  # never journaled, never acknowledged
        assert message.id in bridge.pending and bridge.acks == []
        name = inbox_name(message.chat, message.id, AttachmentKind.DOCUMENT)
        assert [p.name for p in inbox.iterdir()] == [name]
        async with gateway_process(config, log) as second:
            await until(lambda: len(bridge.sent_texts(chat)) == 1, second, log)
            second.send_signal(signal.SIGTERM)
            with trio.fail_after(START_BOUND):
                assert await second.wait() == 0, output(log)
    assert bridge.fetches == [message.id, message.id]  # redelivered, fetched again
    assert [p.name for p in inbox.iterdir()] == [name]  # into the same file: no copy
    assert bridge.sent_texts(chat) == ["echo: the report"]
    assert bridge.pending == {} and bridge.acks == [message.id]
    [request] = model.requests
    assert f"inbox/{name}" in last_user_text(request.json())
