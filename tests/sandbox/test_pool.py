"""SandboxPool with real bubblewrap workers: leases, backpressure, recycling, crashes, cancellation."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.config.schema import SandboxMode
from autobot.sandbox.errors import SandboxUnavailable, WorkerFailed
from autobot.sandbox.policy import ResourceLimits, SandboxPolicy
from autobot.sandbox.pool import PoolStatistics, SandboxPool
from autobot.sandbox.testing import start_pool
from autobot.sandbox.worker import WorkerHandle
from autobot.testing.logs import capture_logger, drain

BOUND = 20  # generous bound on real subprocess work; nothing asserts durations
KILLED_BOUND = 5  # a SIGKILLed sandbox is reaped in milliseconds


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = (tmp_path / "workspace").resolve()
    path.mkdir()
    (path / "a.txt").write_text("alpha")
    return path


def running_marker(marker: str) -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        return True
            except OSError:
                continue
    return False


async def wait_for(predicate) -> None:  # type: ignore[no-untyped-def]
    with trio.fail_after(BOUND):
        # A subprocess's effect on the host has no event to wait on: poll it.
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_statistics_after_start_and_requests(workspace: Path, nursery: trio.Nursery) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=2)
    assert pool.statistics() == PoolStatistics(busy=0, idle=2, restarts=0, served=0)
    async with pool.lease() as worker:
        assert pool.statistics().busy == 1
        assert await worker.read_text("a.txt", 100) == "alpha"
    assert pool.statistics() == PoolStatistics(busy=0, idle=2, restarts=0, served=1)


async def test_backpressure_queues_waiters(workspace: Path, nursery: trio.Nursery) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    release, held = trio.Event(), trio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with pool.lease():
            order.append("holder")
            held.set()
            await release.wait()

    async def waiter() -> None:
        async with pool.lease() as worker:
            order.append("waiter")
            await worker.ping()

    async with trio.open_nursery() as inner:
        inner.start_soon(holder)
        await held.wait()
        inner.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["holder"]
        assert pool.statistics().busy == 1 and pool.statistics().idle == 0
        release.set()
    assert order == ["holder", "waiter"]


async def test_recycled_after_max_requests(workspace: Path, nursery: trio.Nursery) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1, max_requests=2)
    async with pool.lease() as worker:
        first_pid = worker.process.pid
        await worker.read_text("a.txt", 100)
        await worker.read_text("a.txt", 100)
    async with pool.lease() as worker:
        assert worker.process.pid != first_pid
        assert await worker.read_text("a.txt", 100) == "alpha"
    assert pool.statistics().restarts == 1
    assert pool.statistics().served == 3


async def test_worker_killed_mid_request_then_next_request_succeeds(
    workspace: Path, nursery: trio.Nursery
) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    async with pool.lease() as worker, trio.open_nursery() as inner:
        inner.start_soon(wait_then_kill, workspace / "started", worker.process.pid)
        with pytest.raises(WorkerFailed):
            await worker.exec(
                "touch started; sleep 1000", cwd=".", time_limit=BOUND, max_output=100
            )
    async with pool.lease() as worker:
        assert await worker.read_text("a.txt", 100) == "alpha"
    assert pool.statistics().restarts == 1


async def wait_then_kill(started: Path, pid: int) -> None:
    await wait_for(started.exists)
    os.kill(pid, signal.SIGKILL)


async def test_idle_worker_killed_outside_is_replaced_on_lease(
    workspace: Path, nursery: trio.Nursery
) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    async with pool.lease() as worker:
        victim = worker.process
    victim.kill()
    await victim.wait()
    async with pool.lease() as worker:
        assert worker.process is not victim
        assert await worker.read_text("a.txt", 100) == "alpha"
    assert pool.statistics().restarts == 1


async def test_cancelled_turn_kills_its_command(workspace: Path, nursery: trio.Nursery) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    marker = "1000.4242"
    with trio.move_on_after(BOUND) as scope:
        async with trio.open_nursery() as inner:

            async def cancel_when_started() -> None:
                await wait_for((workspace / "started").exists)
                inner.cancel_scope.cancel("the turn was cancelled")

            inner.start_soon(cancel_when_started)
            async with pool.lease() as worker:
                await worker.exec(
                    f"touch started; sleep {marker}", cwd=".", time_limit=BOUND, max_output=100
                )
    assert not scope.cancelled_caught
    await wait_for(lambda: not running_marker(marker))
    async with pool.lease() as worker:
        assert await worker.read_text("a.txt", 100) == "alpha"
    assert pool.statistics().restarts == 1


async def test_workers_die_with_the_pool(workspace: Path) -> None:
    marker = "1000.5151"
    async with trio.open_nursery() as outer:
        pool = await start_pool(outer, workspace, capture_logger()[0], size=2)
        processes = []
        for _ in range(2):
            async with pool.lease() as worker:
                processes.append(worker.process)
        async with pool.lease() as worker:
            outer.start_soon(
                lambda: worker.exec(
                    f"touch started; sleep {marker}", cwd=".", time_limit=BOUND, max_output=10
                )
            )
            await wait_for((workspace / "started").exists)
            outer.cancel_scope.cancel("gateway stopping")
    assert all(process.returncode is not None for process in processes)
    await wait_for(lambda: not running_marker(marker))


async def test_required_backend_missing_stops_start(workspace: Path) -> None:
    pool = SandboxPool(
        mode=SandboxMode.DOCKER,
        policy=SandboxPolicy(workspace=workspace),
        logger=capture_logger()[0],
    )
    with pytest.raises(SandboxUnavailable, match="sandbox 'docker' is not available: docker"):
        await pool.run()


async def test_none_backend_speaks_the_same_protocol(
    workspace: Path, nursery: trio.Nursery
) -> None:
    logger, records = capture_logger()
    pool = await start_pool(nursery, workspace, logger, mode=SandboxMode.NONE, size=1)
    async with pool.lease() as worker:
        assert await worker.read_text("a.txt", 100) == "alpha"
        outcome = await worker.exec("pwd", cwd=".", time_limit=BOUND, max_output=100)
    assert outcome.stdout == f"{workspace}\n"
    assert any("workspace restrictions disabled" in r.message for r in drain(records))


async def test_commands_run_under_the_limits(workspace: Path, nursery: trio.Nursery) -> None:
    limits = ResourceLimits(
        cpu_seconds=7, memory_bytes=300 << 20, processes=99, file_size_bytes=5 << 20
    )
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1, limits=limits)
    async with pool.lease() as worker:
        outcome = await worker.exec(
            "grep -E 'cpu time|address space|processes|Max file size' /proc/self/limits",
            cwd=".", time_limit=BOUND, max_output=2000,
        )  # fmt: skip
    rows = {
        " ".join(line.split()[:-3]): line.split()[-3:-1] for line in outcome.stdout.splitlines()
    }
    assert rows == {
        "Max cpu time": ["7", "7"],
        "Max file size": [str(5 << 20)] * 2,
        "Max processes": ["99", "99"],
        "Max address space": [str(300 << 20)] * 2,
    }


async def test_worker_retires_at_half_its_cpu_limit(workspace: Path, nursery: trio.Nursery) -> None:
    """The worker carries the commands' rlimits itself: near its own CPU limit it
    asks to be replaced, and no request fails on the way."""
    (workspace / "big.txt").write_text("word " * 180_000)
    pool = await start_pool(
        nursery, workspace, capture_logger()[0], size=1, limits=ResourceLimits(cpu_seconds=1)
    )
    async with pool.lease() as worker:
        first = worker.process.pid
    for _ in range(2000):
        async with pool.lease() as worker:
            await worker.read_text("big.txt", 1_000_000)
            if worker.process.pid != first:
                break
    assert worker.process.pid != first
    assert pool.statistics().restarts == 1


async def test_a_respawn_cancelled_during_its_first_ping_leaves_no_process(
    workspace: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1)
    async with pool.lease() as worker:
        victim = worker.process
    victim.kill()  # the idle worker dies: the next lease respawns in the caller's task
    await victim.wait()
    pinging: list[trio.Process] = []

    async def ping_forever(self: WorkerHandle) -> int:
        pinging.append(self.process)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(WorkerHandle, "ping", ping_forever)

    async def lease_once() -> None:
        async with pool.lease():
            raise AssertionError("the lease must not be granted")

    async with trio.open_nursery() as turn:
        turn.start_soon(lease_once)
        await wait_for(lambda: bool(pinging))
        turn.cancel_scope.cancel("the turn was cancelled")
    with trio.fail_after(KILLED_BOUND):
        await pinging[0].wait()  # killed at once, not left running in the pool's nursery
