"""Helpers for tests that need a real pool (used by tests/sandbox and tests/tools)."""

from __future__ import annotations

import os
from pathlib import Path

import trio

from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.logs.records import Logger
from autobot.sandbox.policy import (
    ResourceLimits,
    SandboxPolicy,
    host_proc_entries,
    host_system_mounts,
)
from autobot.sandbox.pool import SandboxPool, sandbox_identity
from autobot.sandbox.userns import SandboxIdentity


async def start_pool(
    nursery: trio.Nursery,
    workspace: Path,
    logger: Logger,
    *,
    mode: SandboxMode = SandboxMode.BUBBLEWRAP,
    size: int = 2,
    max_requests: int = 500,
    network: bool = False,
    env: tuple[tuple[str, str], ...] = (),
    limits: ResourceLimits | None = None,
    identity: SandboxIdentity | str | None = "as_configured",
) -> SandboxPool:
    """A started `SandboxPool` on the resolved directory `workspace`, running in `nursery`.

    `identity` defaults to what a gateway with the default config would use
    (the unprivileged sandbox account when the tests run as root).
    """
    if isinstance(identity, str):
        identity = sandbox_identity(ToolsConfig(), os.geteuid())
    system, etc = host_system_mounts()
    proc_readonly, proc_hidden = host_proc_entries()
    policy = SandboxPolicy(
        workspace=workspace,
        network=network,
        env=env,
        limits=limits or ResourceLimits(),
        system=system,
        etc=etc,
        identity=identity,
        proc_readonly=proc_readonly,
        proc_hidden=proc_hidden,
    )
    pool = SandboxPool(
        mode=mode, policy=policy, logger=logger, size=size, max_requests=max_requests
    )
    await nursery.start(pool.run)
    return pool
