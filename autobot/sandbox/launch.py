"""Start and stop one worker process (bwrap, docker or the bare worker).

`run_worker_process` is meant for `nursery.start`: it hands back the
`WorkerProcess` once started and returns when the process has exited. The
process leads its own process group, so `kill_process_group` also takes a
sandbox that bwrap was still setting up; with the pool's cgroups (root
gateway) it runs in a fresh per-worker cgroup whose limits hold for every
process of the sandbox. At exit the pipes are closed (a worker orphaned by a
dying bwrap reads EOF and exits) and the cgroup is emptied and removed.
"""

from __future__ import annotations

import os
import signal
import subprocess

import trio

from autobot.logs.records import Logger
from autobot.sandbox.bwrap import SANDBOX_ENV
from autobot.sandbox.cgroups import GatewayCgroups, WorkerCgroup
from autobot.sandbox.errors import WorkerFailed
from autobot.sandbox.policy import ResourceLimits
from autobot.sandbox.process import WorkerProcess

CGROUP_CLEANUP_SECONDS = 5.0  # a killed sandbox's processes are gone within milliseconds
WORKER_TASKS = 2  # bwrap's monitor and the worker share the cgroup with the commands
WORKER_MEMORY_BYTES = 64 * 1024 * 1024  # the worker's own share beside its commands


def kill_process_group(process: WorkerProcess) -> None:
    """SIGKILL the process group a worker was started as the leader of.

    Killing only bwrap's own process can orphan its child while it sets up the
    sandbox: the child waits on an eventfd for the killed parent forever, or
    execs the worker before arming `--die-with-parent`. Until the child calls
    setsid (its last step before exec) it is still in this group, so the
    group's SIGKILL takes it too.
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def run_worker_process(
    argv: list[str],
    *,
    pass_fds: tuple[int, ...] = (),
    cgroups: GatewayCgroups | None,
    limits: ResourceLimits,
    logger: Logger,
    task_status: trio.TaskStatus[WorkerProcess] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `argv` with piped stdin/stdout (and `pass_fds` inherited) until it
    exits, killing its group if cancelled; WorkerFailed if it cannot be
    started (including its cgroup)."""
    cgroup: WorkerCgroup | None = None
    try:
        if cgroups is not None:
            cgroup = cgroups.new_worker(
                {
                    "pids": limits.processes + WORKER_TASKS,
                    "memory": limits.memory_bytes + WORKER_MEMORY_BYTES,
                }
            )
        process = WorkerProcess.spawn(
            argv,
            env=dict(SANDBOX_ENV),
            preexec_fn=None if cgroup is None else cgroup.enter,
            pass_fds=pass_fds,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        if cgroup is not None:
            await _remove_cgroup(cgroup, logger)
        raise WorkerFailed(f"sandbox worker could not be started: {exc}") from exc
    try:
        task_status.started(process)
        try:
            await process.wait()
        finally:
            kill_process_group(process)  # cancelled: the whole group at once
            with trio.CancelScope(shield=True):
                await process.wait()
    finally:
        await process.aclose()  # a pending read ends at once; an orphan reads EOF
        if cgroup is not None:
            await _remove_cgroup(cgroup, logger)


async def _remove_cgroup(cgroup: WorkerCgroup, logger: Logger) -> None:
    with trio.move_on_after(CGROUP_CLEANUP_SECONDS) as cleanup:
        cleanup.shield = True
        await cgroup.remove_when_empty()
    if cleanup.cancelled_caught:
        logger.warn("sandbox worker cgroup still busy", cgroup=cgroup.describe())
