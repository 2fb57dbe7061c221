"""Killing a worker while bwrap is still setting its sandbox up leaves nothing behind.

bwrap's child waits on an eventfd for its parent and arms --die-with-parent
only just before exec: killing bwrap alone in that window orphaned the child
(stuck forever, or running the command). The worker now leads its own process
group and the whole group is killed; its pipes are closed when it exits.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import trio

from autobot.sandbox.bwrap import bwrap_argv
from autobot.sandbox.launch import kill_process_group, run_worker_process
from autobot.sandbox.policy import ResourceLimits, SandboxPolicy, host_system_mounts
from autobot.testing.logs import capture_logger

ATTEMPTS = 30


def processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found


async def test_killed_during_setup_leaves_no_process(tmp_path: Path) -> None:
    system, etc = host_system_mounts()
    policy = SandboxPolicy(workspace=tmp_path, system=system, etc=etc)  # tmp_path is resolved
    marker = f"autobot-launch-marker-{os.getpid()}"
    argv = bwrap_argv(policy, ["/usr/bin/python3", "-c", "import sys; sys.stdin.read()", marker])
    logger, _ = capture_logger()
    for attempt in range(ATTEMPTS):
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    run_worker_process,
                    argv,
                    run_as=None,
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
        while processes_with(marker):  # noqa: ASYNC110
            await trio.sleep(0.01)
