"""What the file and exec tools need from the sandbox: a way to lease a worker.

`SandboxPool` is a `WorkerLeaser`. `PoolRef` is one too: it forwards to the
pool incarnation currently running under the gateway's supervisor, so the
tools built once at start-up keep working after the pool actor restarts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import attrs

from autobot.sandbox.errors import WorkerFailed
from autobot.sandbox.worker import WorkerHandle

if TYPE_CHECKING:
    from autobot.sandbox.pool import PoolStatistics, SandboxPool


class WorkerLeaser(Protocol):
    def lease(self) -> AbstractAsyncContextManager[WorkerHandle]: ...


@attrs.define(kw_only=True, eq=False)
class PoolRef:
    """Forwards leases to `current`, the running pool incarnation (set by the
    composition root's factory). With no pool running, a lease raises
    `WorkerFailed`, which the tools report to the model as a retryable error."""

    current: SandboxPool | None = None

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[WorkerHandle]:
        pool = self.current
        if pool is None:
            raise WorkerFailed("the sandbox pool is not running (restarting?)")
        async with pool.lease() as worker:
            yield worker

    def statistics(self) -> PoolStatistics | None:
        return None if self.current is None else self.current.statistics()
