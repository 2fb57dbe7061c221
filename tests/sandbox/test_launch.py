"""Worker processes: killed during setup they leave nothing; alive they outlive trio's threads.

bwrap's child waits on an eventfd for its parent and arms --die-with-parent
only just before exec: killing bwrap alone in that window orphaned the child
(stuck forever, or running the command). The worker now leads its own process
group and the whole group is killed; its pipes are closed when it exits.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path

import pytest
import trio
from trio._core import _thread_cache as thread_cache

from autobot.sandbox.bwrap import bwrap_argv
from autobot.sandbox.launch import kill_process_group, run_worker_process
from autobot.sandbox.policy import ResourceLimits, SandboxPolicy, host_system_mounts
from autobot.sandbox.process import WorkerProcess
from autobot.sandbox.spawn_files import SpawnFiles
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger
from autobot.testing.processes import host_processes_with

ATTEMPTS = 30


async def test_killed_during_setup_leaves_no_process(tmp_path: Path) -> None:
    system, etc = host_system_mounts()
    policy = SandboxPolicy(workspace=tmp_path, system=system, etc=etc)  # tmp_path is resolved
    marker = f"autobot-launch-marker-{os.getpid()}"
    command = ["/usr/bin/python3", "-c", "import sys; sys.stdin.read()", marker]
    files = SpawnFiles.build(None)
    logger, _ = capture_logger()
    for attempt in range(ATTEMPTS):
        async with trio.open_nursery() as nursery:
            with files.open_fds(with_worker=False) as fds:
                process: WorkerProcess = await nursery.start(
                    partial(
                        run_worker_process,
                        bwrap_argv(policy, command, fds=fds),
                        pass_fds=fds.all(),
                        cgroups=None,
                        limits=ResourceLimits(),
                        logger=logger,
                    )
                )
            if attempt % 3:  # immediately, or after letting the setup run a little
                await trio.sleep(0.001 * attempt)
            kill_process_group(process)
    with trio.fail_after(10):
        # Orphans would never go away; the killed ones vanish within milliseconds.
        while host_processes_with(marker):  # noqa: ASYNC110
            await trio.sleep(0.01)


def worker_threads() -> list[threading.Thread]:
    """Threads other than the main one and timers (pytest-timeout's watchdog)."""
    return [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not isinstance(thread, threading.Timer)
    ]


async def test_workers_outlive_trio_retiring_its_idle_threads(
    tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--die-with-parent follows the thread that forked bwrap. Workers used to be
    forked from trio's cached threads, which retire after 10 s idle, and died then."""
    monkeypatch.setattr(thread_cache, "IDLE_TIMEOUT", 0.01)  # retire idle threads at once
    pool = await start_pool(nursery, tmp_path, capture_logger()[0], size=2)
    processes = []
    for _ in range(2):
        async with pool.lease() as worker:
            processes.append(worker.process)
    await trio.to_thread.run_sync(lambda: None)  # a cached thread now exists...
    with trio.fail_after(10):
        while worker_threads():  # noqa: ASYNC110  ...and retires
            await trio.sleep(0.01)
    for process in processes:
        assert process.poll() is None
    async with pool.lease() as worker:
        assert await worker.ping() == 1
    assert pool.statistics().restarts == 0
