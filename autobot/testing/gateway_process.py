"""The real `autobot gateway` as a child process, for the channels' `kill -9` tests.

`gateway_process` runs `python -m autobot --config CONFIG gateway` (the real
command) with this process's environment minus the API keys (the bot's
`.env` provides its own), its stderr appended to a log file that failure
messages quote. The test plays the loopback fakes in its own process and
waits in real time: `until` a condition holds while the gateway keeps
running, bounded by `START_BOUND` (a real process on a loaded 2-core
machine: nothing asserts a duration). `killed` is SIGKILL and waiting for the
gateway's sandbox workers to be gone; `stop_gracefully` is SIGTERM and exit
0. The model is `slow_first_echo`: its first turn (the one the test kills)
takes `SLOW_MODEL_SECONDS`, every later one echoes the user's last line at
once. `pending_journal_entries` reads what a channel's inbound journal still
holds unanswered.
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

import trio

from autobot.channels.inbound_journal import InboundJournal, inbound_journal_path
from autobot.testing.llm_script import ScriptedReply, Step
from autobot.testing.processes import host_processes_with
from autobot.testing.telegram_bot import last_user_text

SLOW_MODEL_SECONDS = 5.0  # the turn the gateway is killed in never gets its answer
START_BOUND = 60.0  # a real process on a loaded 2-core machine; nothing asserts a duration
STEP_SECONDS = 30.0  # one exchange, or the sandbox workers' exit
POLL_SECONDS = 0.05  # how often the test looks at the fakes while a process works


def free_port() -> int:
    """A loopback port nobody listens on right now: for the gateway's HTTP
    actor, as tests run side by side (not the default port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def echo_last_line(body: Mapping[str, Any]) -> str:
    """The reply to a request: the last line the user wrote, echoed."""
    return "echo: " + last_user_text(body).splitlines()[-1]


def slow_first_echo() -> Callable[[Mapping[str, Any]], Step]:
    """A model that takes `SLOW_MODEL_SECONDS` for its first request (the turn
    that is killed), then answers every request at once (`echo_last_line`)."""
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
    """`autobot gateway` for `config`, its stderr appended to `log`; killed if
    the block ends while it still runs."""
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


def _output(log: Path) -> str:
    """What the gateway processes wrote to stderr (for failure messages)."""
    return log.read_text()


async def until(condition: Callable[[], bool], process: trio.Process, log: Path) -> None:
    """Wait (real time) until `condition()` holds while `process` keeps running."""
    with trio.fail_after(START_BOUND):
        while not condition():
            assert process.poll() is None, f"the gateway exited:\n{_output(log)}"
            await trio.sleep(POLL_SECONDS)


async def stop_gracefully(process: trio.Process, log: Path) -> None:
    """SIGTERM: the gateway stops and exits 0."""
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(START_BOUND):
        assert await process.wait() == 0, _output(log)


async def killed(config: Path, process: trio.Process) -> None:
    """SIGKILL the gateway of `config`; return once its sandbox workers (whose
    command lines name the bot's workspace) have died with it."""
    process.kill()
    assert await process.wait() == -signal.SIGKILL
    workspace = str(config.parent / "workspace")
    with trio.fail_after(STEP_SECONDS):
        while host_processes_with(workspace):  # noqa: ASYNC110 -- other processes
            await trio.sleep(POLL_SECONDS)


def pending_journal_entries(config: Path, channel: str) -> int:
    """How many messages `channel`'s inbound journal of the bot of `config`
    still holds without an answer."""
    with InboundJournal.open(inbound_journal_path(config.parent, channel)).journal as journal:
        return journal.backlog
