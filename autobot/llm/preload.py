"""`ProviderPreload`: the LLM provider made ready in the background, once the gateway is up.

A temporary child of the root supervisor (`preload_spec`), started right
after the channels: it reports itself started at once (no sibling waits for
it), then calls `provider.prepare()`, which for Anthropic imports the SDK in
a worker thread (about a second). So the import is off the path to the first
poll, and the first turn normally finds the provider ready; a turn that comes
sooner waits for that same import, never longer. A failure is a WARN record
and the end of the child, not a crash: the first call tries again and, if it
fails too, reports it like any provider failure.

The gateway serves with its start-up heap frozen (`serving_gc`); the SDK,
loaded later, would stay outside it and every full collection would scan
its ~140k objects (~0.1 s pause of the event loop). So once it is loaded,
and only while the heap is frozen, the preload freezes it with the rest
(whatever else is alive then, such as a turn in flight, is frozen too: it is
still freed by reference counting, and only a reference cycle among it waits
for the unfreeze when the gateway stops).
"""

from __future__ import annotations

import gc

import attrs
import trio

from autobot.llm.selection import ManagedProvider
from autobot.llm.types import ProviderError
from autobot.logs.records import Logger
from autobot.runtime import ChildEnv, ChildSpec, Restart

# Nothing to finish on a stop; an import in flight cannot be interrupted, so a
# stop in the first second after start waits for it (never longer than the import).
PRELOAD_SHUTDOWN_GRACE = 0.0


@attrs.define(kw_only=True)
class ProviderPreload:
    """Owns one `prepare()` call on `provider` (which owns the result), then
    the freeze of what it loaded when the start-up heap is frozen."""

    provider: ManagedProvider
    logger: Logger

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        began = trio.current_time()
        try:
            await self.provider.prepare()
        except ProviderError as exc:
            self.logger.warn(f"{exc}; the first call will try again")
            return
        if gc.get_freeze_count():  # serving_gc froze the start-up heap: join it
            gc.freeze()
        self.logger.info(
            f"{self.provider.name} provider ready",
            seconds=f"{trio.current_time() - began:.3f}",
        )


def preload_spec(provider: ManagedProvider, logger: Logger) -> ChildSpec:
    """The root child `llm`: a `ProviderPreload` of `provider`, run once (temporary)."""

    def build(env: ChildEnv) -> ProviderPreload:
        return ProviderPreload(provider=provider, logger=logger)

    return ChildSpec(
        id="llm",
        factory=build,
        restart=Restart.TEMPORARY,
        shutdown_grace=PRELOAD_SHUTDOWN_GRACE,
    )
