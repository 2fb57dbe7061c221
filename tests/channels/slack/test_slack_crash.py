"""`kill -9` of the real gateway process mid-turn: the message is answered once, after the restart.

The gateway runs as a child process (`python -m autobot.testing.slack_gateway
--config ...`: `autobot gateway`, its doctor gate, lifetime and signals, with
the Slack channel in its tree) against the loopback Slack fake and a slow
model fake in this test process. Alice writes; once the model has the
request (the turn is running), the gateway is killed with SIGKILL and
started again. Two moments: after the channel acknowledged the envelope
(the inbound journal is then the only copy: Slack redelivers nothing) and
before Slack saw an acknowledgement (it redelivers the event to the new
process, whose journal knows it: acknowledged, dropped, answered once by
the replay). The fake records every chat.postMessage.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml

from autobot.channels.inbound_journal import InboundJournal, inbound_journal_path
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_slack import FakeSlack, serve_fake_slack
from autobot.testing.llm_script import FakeLLM, ScriptedReply, Step
from autobot.testing.processes import host_processes_with
from autobot.testing.slack_bot import make_slack_bot
from autobot.testing.telegram_bot import last_user_text

ALICE = "U1001"
SLOW_MODEL_SECONDS = 5.0  # the turn the gateway is killed in never gets its answer
START_BOUND = 60.0  # a real process on a loaded 2-core machine; nothing asserts a duration
STEP_SECONDS = 30.0
POLL_SECONDS = 0.05
# Slack keeps redelivering the unacknowledged event while the gateway restarts
REDELIVERIES = 100


def slow_first_echo() -> Callable[[Mapping[str, Any]], Step]:
    """The first request (the killed turn) takes `SLOW_MODEL_SECONDS`; the rest
    are answered at once with the last line the user wrote."""
    requests = 0

    def answer(body: Mapping[str, Any]) -> Step:
        nonlocal requests
        requests += 1
        text = "echo: " + last_user_text(body).splitlines()[-1]
        return ScriptedReply(text=text, latency=SLOW_MODEL_SECONDS if requests == 1 else 0.0)

    return answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bot_config(tmp_path: Path, slack: FakeSlack, model: FakeLLM) -> Path:
    config_path = make_slack_bot(
        tmp_path, api_base=slack.api_base, model_url=model.base_url, allow_from=[ALICE]
    )
    config = yaml.safe_load(config_path.read_text())
    config["gateway"]["port"] = free_port()
    config_path.write_text(yaml.safe_dump(config))
    return config_path


@asynccontextmanager
async def gateway_process(config: Path, log: Path) -> AsyncIterator[trio.Process]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    with log.open("ab") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "autobot.testing.slack_gateway", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**env, "PYTHONUNBUFFERED": "1"},
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
    with trio.fail_after(START_BOUND):
        while not condition():
            assert process.poll() is None, f"the gateway exited:\n{output(log)}"
            await trio.sleep(POLL_SECONDS)


def pending_journal_entries(config: Path) -> int:
    with InboundJournal.open(inbound_journal_path(config.parent, "slack")).journal as journal:
        return journal.backlog


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acknowledged", "not-acknowledged"])
async def test_kill_9_mid_turn_then_restart_answers_the_message_once(
    tmp_path: Path, acknowledged: bool
) -> None:
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_slack(max_retries=REDELIVERIES) as slack,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        alice = slack.add_user(ALICE, "alice")
        config = bot_config(tmp_path, slack, model)
        async with gateway_process(config, log) as first:
            await until(lambda: bool(slack.open_connections()), first, log)
            slack.ignore_acks = not acknowledged
            slack.post_dm(alice, "remember the milk")
            await until(lambda: len(model.requests) == 1, first, log)  # journaled, turn runs
            if acknowledged:
                await until(lambda: not slack.pending, first, log)
            held = len(slack.pending)
            first.kill()
            assert await first.wait() == -signal.SIGKILL
            slack.ignore_acks = False
        assert slack.posted == []  # killed before any answer
        assert held == (0 if acknowledged else 1)
        with trio.fail_after(STEP_SECONDS):  # its sandbox workers die with it
            while host_processes_with(str(config.parent / "workspace")):  # noqa: ASYNC110
                await trio.sleep(POLL_SECONDS)
        deliveries_before = len(slack.deliveries)
        async with gateway_process(config, log) as second:
            await until(lambda: len(slack.messages_in(alice.dm)) >= 1, second, log)
            slack.post_dm(alice, "and eggs")
            await until(lambda: len(slack.messages_in(alice.dm)) >= 2, second, log)
            await until(lambda: not slack.pending, second, log)
            second.send_signal(signal.SIGTERM)
            with trio.fail_after(START_BOUND):
                assert await second.wait() == 0, output(log)
    assert [m.text for m in slack.messages_in(alice.dm)] == [
        "echo: remember the milk",
        "echo: and eggs",
    ]
    redelivered = [d for d in slack.deliveries[deliveries_before:] if d.retry_attempt > 0]
    assert bool(redelivered) is not acknowledged  # Slack tried again only without an ack
    assert slack.lost == []
    assert pending_journal_entries(config) == 0
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    assert asked == ["remember the milk", "remember the milk", "and eggs"]
