"""Helpers for tests that need a real pool (used by tests/sandbox and tests/tools)."""

from __future__ import annotations

from pathlib import Path

import trio

from autobot.config.schema import SandboxMode
from autobot.logs.records import Logger
from autobot.sandbox.policy import ResourceLimits, SandboxPolicy, host_system_mounts
from autobot.sandbox.pool import SandboxPool


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
    run_as: tuple[int, int] | None = None,
) -> SandboxPool:
    """A started `SandboxPool` on the resolved directory `workspace`, running in `nursery`."""
    system, etc = host_system_mounts()
    policy = SandboxPolicy(
        workspace=workspace,
        network=network,
        env=env,
        limits=limits or ResourceLimits(),
        system=system,
        etc=etc,
        run_as=run_as,
    )
    pool = SandboxPool(
        mode=mode, policy=policy, logger=logger, size=size, max_requests=max_requests
    )
    await nursery.start(pool.run)
    return pool
