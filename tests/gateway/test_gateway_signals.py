"""Signals over the gateway's whole life, in-process (exact, no waiting on time):
start-up abandoned by a first signal, immediate stop by a second, signals that
arrived before Trio started (the lifetime itself: tests/runtime/test_runtime_lifetime.py)."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.commands.gateway import serve
from autobot.config.schema import ToolsConfig
from autobot.runtime.lifetime import SIGNAL_EXIT_BASE
from autobot.sandbox.probe import SandboxProbe
from autobot.testing.gateway_process import free_port

from .botfactory import make_gateway_bot


def _signalling_probe(*signums: int):  # type: ignore[no-untyped-def]
    """A sandbox probe (the doctor's, during start-up) that sends `signums` to
    this process one at a time, then hangs: start-up is provably in progress
    when they land. Each signal is handled before the next is sent (shielded,
    so the first one's cancellation waits): none is left pending when the
    gateway returns, which Trio would re-raise at this test process."""

    async def probe(tools: ToolsConfig) -> SandboxProbe:
        with trio.CancelScope(shield=True):
            for signum in signums:
                os.kill(os.getpid(), signum)
                await trio.testing.wait_all_tasks_blocked()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    return probe


async def _probe_must_not_run(tools: ToolsConfig) -> SandboxProbe:
    raise AssertionError("start-up must not get as far as the sandbox probe")


async def _serve(tmp_path: Path, probe, early: tuple[int, ...] = ()) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    config = make_gateway_bot(tmp_path, port=free_port())
    stderr = io.StringIO()
    code = await serve(
        config,
        environ={},
        stderr=stderr,
        home=tmp_path / "home",
        probe=probe,
        early_signals=early,
    )
    return code, stderr.getvalue()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_during_start_up_abandons_it_and_exits_0(
    tmp_path: Path, signum: int
) -> None:
    code, output = await _serve(tmp_path, _signalling_probe(signum))
    name = signal.Signals(signum).name
    assert code == 0
    assert output == f"autobot: gateway stopped during start-up ({name}); nothing was started.\n"


async def test_a_second_signal_during_start_up_is_an_immediate_stop(tmp_path: Path) -> None:
    code, output = await _serve(tmp_path, _signalling_probe(signal.SIGINT, signal.SIGTERM))
    assert code == SIGNAL_EXIT_BASE + signal.SIGTERM == 143
    assert output == "autobot: gateway stopped immediately (SIGTERM).\n"


async def test_a_signal_before_trio_started_abandons_start_up(tmp_path: Path) -> None:
    code, output = await _serve(tmp_path, _probe_must_not_run, early=(signal.SIGTERM,))
    assert code == 0
    assert "stopped during start-up (SIGTERM)" in output


async def test_two_signals_before_trio_started_are_an_immediate_stop(tmp_path: Path) -> None:
    early = (signal.SIGTERM, signal.SIGINT)
    code, output = await _serve(tmp_path, _probe_must_not_run, early=early)
    assert code == SIGNAL_EXIT_BASE + signal.SIGINT == 130
    assert output == "autobot: gateway stopped immediately (SIGINT).\n"
