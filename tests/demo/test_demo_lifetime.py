"""`autobot demo` under the commands' shared lifetime: a signal abandons its
start-up (exit 0, nothing started), a second signal while it serves stops it
at once (128 + N) and its state directory is still removed. Real signals,
the real tree; generous bounds, no durations asserted."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.config.schema import ToolsConfig
from autobot.demo import demo
from autobot.sandbox.probe import SandboxProbe

from .test_demo_end_to_end import RUN_BOUND, WatchedOutput, free_port, make_bot, scratch

__all__ = ["scratch"]  # the fixture, shared with the end-to-end tests


def _signalling_probe(signum: int):  # type: ignore[no-untyped-def]
    """The doctor's sandbox probe (start-up is provably in progress): sends
    `signum` to this process, lets the watcher take it, then hangs."""

    async def probe(tools: ToolsConfig) -> SandboxProbe:
        with trio.CancelScope(shield=True):
            os.kill(os.getpid(), signum)
            await trio.testing.wait_all_tasks_blocked()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    return probe


async def _probe_must_not_run(tools: ToolsConfig) -> SandboxProbe:
    raise AssertionError("start-up must not get as far as the sandbox probe")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_during_start_up_abandons_the_demo(
    tmp_path: Path, scratch: Path, signum: int
) -> None:
    config_path = make_bot(tmp_path, free_port())
    stdout, stderr = io.StringIO(), io.StringIO()
    with trio.fail_after(RUN_BOUND):
        code = await demo(
            config_path,
            environ={},
            stdout=stdout,
            stderr=stderr,
            once=True,
            home=tmp_path,
            probe=_signalling_probe(signum),
        )
    name = signal.Signals(signum).name
    assert (code, stdout.getvalue()) == (0, "")
    assert (
        stderr.getvalue()
        == f"autobot: demo stopped during start-up ({name}); nothing was started.\n"
    )
    assert not (config_path.parent / "logs" / "autobot.log").exists()
    assert os.listdir(scratch) == []  # no state directory was made


async def test_a_signal_before_trio_started_abandons_the_demo(
    tmp_path: Path, scratch: Path
) -> None:
    config_path = make_bot(tmp_path, free_port())
    stdout, stderr = io.StringIO(), io.StringIO()
    with trio.fail_after(RUN_BOUND):
        code = await demo(
            config_path,
            environ={},
            stdout=stdout,
            stderr=stderr,
            once=True,
            home=tmp_path,
            probe=_probe_must_not_run,
            early_signals=(signal.SIGTERM,),
        )
    assert (code, stdout.getvalue()) == (0, "")
    assert "demo stopped during start-up (SIGTERM)" in stderr.getvalue()


async def test_a_second_signal_stops_the_serving_demo_at_once(
    tmp_path: Path, scratch: Path
) -> None:
    config_path = make_bot(tmp_path, free_port())
    stdout, stderr = WatchedOutput("Ctrl-C stops the demo."), io.StringIO()
    codes: list[int] = []

    async def run() -> None:
        codes.append(
            await demo(
                config_path, environ={}, stdout=stdout, stderr=stderr, once=False, home=tmp_path
            )
        )

    with trio.fail_after(RUN_BOUND):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await stdout.seen.wait()
            # Both at once: the second lands long before the graceful stop could end.
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)
    assert codes == [130]
    assert stderr.getvalue() == "autobot: demo stopped immediately (SIGINT).\n"
    assert os.listdir(scratch) == []  # removed even so
