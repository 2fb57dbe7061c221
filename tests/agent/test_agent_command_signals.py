"""Ctrl-C and SIGTERM in `autobot agent` as a real process: quiet, exit 130 or
143, one line, no traceback.

The only waits are for readiness (the prompt, the fake model receiving the
request, the "stopping" line); the bounds are generous and never asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trio

from autobot.channels.terminal import PROMPT
from autobot.commands.agent import STOPPING_TEXT
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply, Step

BOUND = 60.0  # a real process on a loaded 2-core machine


def _bot(tmp_path: Path, api_base: str) -> Path:
    """A bot the doctor admits (the key in a private .env), so `agent` starts."""
    bot = tmp_path / "bot"
    (bot / "workspace").mkdir(parents=True)
    config = bot / "config.yml"
    config.write_text(
        "agents:\n  defaults:\n    model: anthropic/claude-test\n"
        "providers:\n  anthropic:\n    api_key: ${ANTHROPIC_API_KEY}\n"
        f"    api_base: {api_base}\n"
        "tools:\n  sandbox: bubblewrap\n"
    )
    config.chmod(0o600)
    env = bot / ".env"
    env.write_text("ANTHROPIC_API_KEY=sk-ant-signals-test-0123456789\n")
    env.chmod(0o600)
    return config


def _diagnostics(stderr: str) -> str:
    """`stderr` without the doctor's start-up report (warnings only: running
    as root, for one), which `agent` prints before it starts."""
    report, summary, rest = stderr.partition("\nSummary: 0 errors, ")
    if not summary:
        return stderr
    assert "ERRORS" not in report
    return rest.partition("\n")[2]


async def _start(config: Path, *args: str) -> trio.Process:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "autobot.cli", "--config", str(config), "agent", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


async def _read_until(stream: Any, marker: str, seen: bytearray) -> None:
    """Read `stream` into `seen` until `marker` appears (or EOF: then fail)."""
    while marker.encode() not in seen:
        chunk = await stream.receive_some()
        assert chunk, f"stream ended before {marker!r}: {bytes(seen)!r}"
        seen += chunk


async def _rest(stream: Any, seen: bytearray) -> str:
    while chunk := await stream.receive_some():
        seen += chunk
    return seen.decode()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_at_the_interactive_prompt(tmp_path: Path, signum: int, code: int) -> None:
    async with serve_fake_anthropic([]) as fake:
        process = await _start(_bot(tmp_path, fake.base_url))
        out, err = bytearray(), bytearray()
        with trio.fail_after(BOUND):
            await _read_until(process.stdout, PROMPT, out)  # ready: signals are handled
            process.send_signal(signum)
            stderr = await _rest(process.stderr, err)
            assert await process.wait() == code
    assert _diagnostics(stderr) == STOPPING_TEXT
    assert fake.requests == []


async def test_ctrl_c_twice_during_a_turn_of_agent_m(tmp_path: Path) -> None:
    arrived = trio.Event()

    def slow_model(body: Mapping[str, Any]) -> Step:
        arrived.set()
        return ScriptedReply(text="too late", latency=3600.0)

    async with serve_fake_anthropic(handler=slow_model) as fake:
        process = await _start(_bot(tmp_path, fake.base_url), "-m", "hello")
        out, err = bytearray(), bytearray()
        with trio.fail_after(BOUND):
            await arrived.wait()  # ready: the turn is waiting for the model
            process.send_signal(signal.SIGINT)
            # graceful: the router would let the turn run for its grace period...
            await _read_until(process.stderr, STOPPING_TEXT, err)
            process.send_signal(signal.SIGINT)  # ...a second Ctrl-C stops at once
            stderr = await _rest(process.stderr, err)
            assert await process.wait() == 130
            stdout = await _rest(process.stdout, out)
    assert _diagnostics(stderr) == STOPPING_TEXT
    assert "Traceback" not in stderr and stdout == ""
    assert len(fake.requests) == 1
