"""The managed bridge as a real child process (the fake bridge's process, standing in for Node).

`ManagedBridge` starts it, restarts it after `kill -9`, terminates it when
cancelled (SIGTERM; SIGKILL after the grace for one that ignores SIGTERM),
gives it an environment without the gateway's secrets, stops for good on
exit 3 (logged out) and exit 2 (configuration refused), and stops a bridge
that a killed gateway left running, never a process that merely reuses its
pid.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trio.testing

from autobot.channels.whatsapp.bridge_process import (
    BRIDGE_ENVIRONMENT,
    TERM_GRACE_SECONDS,
    ManagedBridge,
    _terminate,
    bridge_arguments,
    bridge_environment,
    describe_exit,
    process_start_time,
)
from autobot.logs.records import Level, LogRecord
from autobot.testing.fake_whatsapp_process import control
from autobot.testing.logs import capture_logger, drain
from autobot.testing.telegram_channel import patient_clock

SEED = 7
STEP = 60.0
# How often a test looks at a bridge process (virtual seconds: under the patient
# clock each look costs a quarter second of real idle time, so not too often).
POLL_SECONDS = 0.5
SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "s" * 40,
    "TELEGRAM_BOT_TOKEN": "123456:AAE" + "t" * 30,
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "GITHUB_TOKEN": "ghp_" + "g" * 36,
}
PARENT_ENVIRON = {**os.environ, **SECRETS, "LANG": "C.UTF-8"}
FAKE_BRIDGE = [sys.executable, "-m", "autobot.testing.fake_whatsapp_process"]
T = TypeVar("T")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@pytest.fixture
def bot_dir() -> Iterator[Path]:
    """A bot directory with a short path (a Unix socket path holds 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="wa-", dir="/tmp"))
    (path / "state").mkdir(mode=0o700)
    (path / "workspace").mkdir()
    secret = path / "state" / "whatsapp-bridge-secret"
    secret.write_text("ab" * 32 + "\n")
    secret.chmod(0o600)
    yield path
    shutil.rmtree(path)


def managed(bot_dir: Path, *, command: list[str] | None = None, **fields: Any) -> ManagedBridge:
    logger, log = capture_logger("gateway")
    arguments = bridge_arguments(
        listen=f"unix:{bot_dir / 'state' / 'whatsapp-bridge.sock'}",
        secret_file=bot_dir / "state" / "whatsapp-bridge-secret",
        bot_dir=bot_dir,
        workspace=bot_dir / "workspace",
        max_file_bytes=1000,
    )
    argv = command or [*FAKE_BRIDGE, "--control", str(bot_dir / "control.sock"), *arguments]
    bridge = ManagedBridge(
        argv=argv,
        environ=bridge_environment(PARENT_ENVIRON),
        pid_file=bot_dir / "state" / "whatsapp-bridge.pid",
        logger=logger,
        rng=random.Random(SEED),
        **fields,
    )
    LOGS[id(bridge)] = log
    return bridge


LOGS: dict[int, trio.MemoryReceiveChannel[LogRecord]] = {}


def records(bridge: ManagedBridge) -> list[LogRecord]:
    return drain(LOGS[id(bridge)])


async def state(bot_dir: Path, *, other_than: int | None = None) -> dict[str, Any]:
    """The fake process's state once it answers (and is not pid `other_than`)."""
    with trio.fail_after(STEP):
        while True:
            try:
                found = await control(bot_dir / "control.sock", "state")
            except (OSError, trio.BrokenResourceError):  # not listening yet, or just killed
                found = None
            if found is not None and found["pid"] != other_than:
                return found
            await trio.sleep(POLL_SECONDS)


async def ticking(wait: Callable[[], Awaitable[T]]) -> T:
    """`await wait()` within `STEP` while virtual time moves in `POLL_SECONDS`
    steps. A real process takes real time; with no near deadline the patient
    clock would leap straight to the farthest one (a `fail_after`, a grace) the
    first time the process is a little slow to start or exit."""
    result: list[T] = []

    async def waiting(done: trio.CancelScope) -> None:
        result.append(await wait())
        done.cancel()

    with trio.fail_after(STEP):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiting, nursery.cancel_scope)
            while True:  # noqa: ASYNC110 -- the ticks are the point: the next near deadline
                await trio.sleep(POLL_SECONDS)
    return result[0]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_the_bridge_is_restarted_after_kill_9_and_terminated_at_stop(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    bridge = managed(bot_dir)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bridge.run)
        first = await state(bot_dir)
        pid_file = (bot_dir / "state" / "whatsapp-bridge.pid").read_text().split()
        assert pid_file == [str(first["pid"]), process_start_time(first["pid"])]
        os.kill(first["pid"], signal.SIGKILL)
        second = await state(bot_dir, other_than=first["pid"])
        assert bridge.restarts == 1
        nursery.cancel_scope.cancel()
    assert gone(first["pid"]) and gone(second["pid"])
    assert not (bot_dir / "state" / "whatsapp-bridge.pid").exists()
    [restart] = [r for r in records(bridge) if r.level is Level.WARN]
    assert restart.message.startswith("whatsapp bridge exited (killed by SIGKILL); restarting in")


async def test_the_bridge_gets_no_secret_of_the_gateway(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    bridge = managed(bot_dir)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bridge.run)
        environ = (await state(bot_dir))["environ"]
        nursery.cancel_scope.cancel()
    assert set(environ) <= {*BRIDGE_ENVIRONMENT, "NODE_ENV"}
    assert environ["NODE_ENV"] == "production" and environ["LANG"] == "C.UTF-8"
    for name, value in SECRETS.items():
        assert name not in environ
        assert all(value not in text for text in environ.values())


async def test_logged_out_is_a_stop_not_a_restart_loop(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    bridge = managed(bot_dir)
    reasons: list[str] = []

    async def run() -> None:
        reasons.append(await bridge.run())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await state(bot_dir)
        await control(bot_dir / "control.sock", "logout")
    assert bridge.restarts == 0
    [reason] = reasons
    assert "logged the bridge out (exit 3)" in reason and "scan the new QR code" in reason


async def test_a_refused_configuration_is_a_stop(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    (bot_dir / "state" / "whatsapp-bridge-secret").chmod(0o644)  # the bridge refuses it
    bridge = managed(bot_dir)
    reason = await ticking(bridge.run)
    assert "refused its configuration (exit 2)" in reason and bridge.restarts == 0


async def test_a_failed_preparation_is_a_stop_before_any_start(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    from autobot.channels.whatsapp.bridge_install import BridgeInstallError

    async def prepare() -> None:
        raise BridgeInstallError("`npm ci` in /x failed (exit 1): offline")

    bridge = managed(bot_dir, prepare=prepare)
    assert await bridge.run() == "`npm ci` in /x failed (exit 1): offline"
    assert not (bot_dir / "state" / "whatsapp-bridge.pid").exists()


async def test_a_bridge_left_by_a_killed_gateway_is_stopped_first(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    orphan_bridge = managed(bot_dir)
    orphan = await trio.lowlevel.open_process(
        list(orphan_bridge.argv), env=dict(orphan_bridge.environ), start_new_session=True
    )
    try:
        await state(bot_dir)
        started = process_start_time(orphan.pid)
        (bot_dir / "state" / "whatsapp-bridge.pid").write_text(f"{orphan.pid} {started}\n")
        bridge = managed(bot_dir)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bridge.run)
            assert await ticking(orphan.wait) == 0  # SIGTERM: a graceful exit
            fresh = await state(bot_dir, other_than=orphan.pid)
            nursery.cancel_scope.cancel()
        assert fresh["pid"] != orphan.pid
        warnings = [r for r in records(bridge) if r.level is Level.WARN]
        assert [r.message for r in warnings] == [
            "stopping a WhatsApp bridge an earlier gateway left running"
        ]
    finally:
        if orphan.poll() is None:
            orphan.kill()
        with trio.CancelScope(shield=True):
            await orphan.wait()


async def test_a_recycled_pid_is_never_signalled(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    bystander = await trio.lowlevel.open_process(["sleep", "600"], stdin=subprocess.DEVNULL)
    try:
        # the pid file names the bystander's pid, but another process's start time
        (bot_dir / "state" / "whatsapp-bridge.pid").write_text(f"{bystander.pid} 1\n")
        bridge = managed(bot_dir)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bridge.run)
            await state(bot_dir)
            nursery.cancel_scope.cancel()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        with trio.CancelScope(shield=True):
            await bystander.wait()


@pytest.fixture
def grace_clock() -> trio.testing.MockClock:
    """Virtual time moves once the test was idle for a real second: far longer
    than a child needs to exit on SIGTERM, so only a stubborn one sees the grace end."""
    return trio.testing.MockClock(autojump_threshold=1.0)


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["graceful", "stubborn"])
async def test_termination_is_sigterm_then_sigkill_after_the_grace(
    tmp_path: Path, grace_clock: trio.testing.MockClock, ignores_sigterm: bool
) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGTERM, {'signal.SIG_IGN' if ignores_sigterm else 'lambda *a: sys.exit(0)'})\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(600)\n"
    )
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            functools.partial(
                trio.run_process,
                [sys.executable, "-c", code],
                check=False,
                deliver_cancel=_terminate,
            )
        )
        with trio.fail_after(STEP):
            while not ready.exists():  # noqa: ASYNC110 -- another process writes it
                await trio.sleep(POLL_SECONDS)
        cancelled_at = trio.current_time()
        nursery.cancel_scope.cancel()
    took = trio.current_time() - cancelled_at
    if ignores_sigterm:
        assert process.returncode == -signal.SIGKILL and took == TERM_GRACE_SECONDS
    else:
        assert process.returncode == 0 and took == 0


def test_exit_codes_are_described() -> None:
    assert describe_exit(1) == "exit 1"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-200) == "killed by signal 200"
