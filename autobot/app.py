"""The composition root: builds the gateway's supervision tree from a `LoadedConfig`.

This is the only module that knows every actor. The tree (see ARCHITECTURE.md):

    root supervisor (one_for_one)
    ├── log        redacts every record, then writes stderr and logs/autobot.log;
    │              started first, stopped last
    ├── sandbox    the sandbox pool actor (persistent bubblewrap workers)
    └── http       /healthz and /metrics on gateway.host:gateway.port

Each `ChildSpec.factory` builds a fresh actor per incarnation; the log
mailbox is created here so every `Logger` keeps working across restarts of
the log actor.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import attrs
import trio

from autobot.config import LoadedConfig
from autobot.gateway.metrics import log_metrics, pool_metrics, supervisor_metrics
from autobot.http.actor import HttpActor
from autobot.http.metrics import Metric
from autobot.logs.actor import LogActor, level_from_config, open_log_mailbox
from autobot.logs.records import Level, Logger, LogRecord
from autobot.logs.redact import Redactor
from autobot.logs.sinks import sinks_from_config
from autobot.runtime import (
    ChildEnv,
    ChildSpec,
    EventKind,
    Supervisor,
    SupervisorEvent,
)
from autobot.sandbox.pool import SandboxPool
from autobot.store.permissions import PermissionFix, tighten_permissions

# The log actor is cancelled at once when the tree stops (it is the last child
# left): its cancel path writes what is waiting and closes the sinks, bounded.
LOG_SHUTDOWN_GRACE = 0.0
# Sandbox workers hold no state worth waiting for, and the actors that lease them
# stop before the pool does: cancel it at once.
SANDBOX_SHUTDOWN_GRACE = 0.0
# Lets in-flight HTTP requests finish.
HTTP_SHUTDOWN_GRACE = 3.0

_EVENT_LEVELS = {
    EventKind.STARTED: Level.INFO,
    EventKind.EXITED: Level.INFO,
    EventKind.STOPPED: Level.INFO,
    EventKind.FAILED: Level.ERROR,
    EventKind.RESTARTING: Level.WARN,
    EventKind.GAVE_UP: Level.ERROR,
}


def supervisor_event_logger(logger: Logger) -> Callable[[SupervisorEvent], None]:
    """An `on_event` callback that turns supervisor lifecycle events into records."""

    def on_event(event: SupervisorEvent) -> None:
        subject = event.child_id or event.supervisor
        message = f"{event.supervisor}: {subject} {event.kind.value}"
        fields: dict[str, object] = {}
        if event.delay is not None:
            fields["delay"] = f"{event.delay:.3f}s"
        if event.error is not None:
            fields["error"] = event.error
        if event.environmental:
            fields["environmental"] = "yes"
        logger.emit(_EVENT_LEVELS[event.kind], message, fields=fields)

    return on_event


def state_permissions(loaded: LoadedConfig) -> tuple[list[Path], list[Path]]:
    """The files and directories holding autobot's state, which must be 0600/0700."""
    files = [loaded.path, loaded.env_file, loaded.cron_store]
    for directory, pattern in ((loaded.sessions_dir, "*.jsonl"), (loaded.logs_dir, "autobot.log*")):
        if directory.is_dir():
            files.extend(path for path in directory.glob(pattern) if path.is_file())
    dirs = [loaded.sessions_dir, loaded.logs_dir]
    return [path for path in files if path.is_file()], [path for path in dirs if path.is_dir()]


@attrs.define(kw_only=True, eq=False)
class Gateway:
    """One bot's running tree: the root supervisor and the handles its actors share.

    Build with `build_gateway`, then `await nursery.start(gateway.run)` (or
    `await gateway.run()`); `stop()` asks for a graceful stop. `http_url` is
    set once the HTTP actor listens.
    """

    loaded: LoadedConfig
    logger: Logger
    log_inbox: trio.MemoryReceiveChannel[LogRecord]
    stderr: TextIO | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    permission_fixes: tuple[PermissionFix, ...] = ()
    http_url: str | None = attrs.field(init=False, default=None)
    root: Supervisor = attrs.field(init=False)
    _pool: SandboxPool | None = attrs.field(init=False, default=None)

    @root.default
    def _build_root(self) -> Supervisor:
        specs = [
            ChildSpec(id="log", factory=self._build_log, shutdown_grace=LOG_SHUTDOWN_GRACE),
            ChildSpec(
                id="sandbox", factory=self._build_pool, shutdown_grace=SANDBOX_SHUTDOWN_GRACE
            ),
            ChildSpec(id="http", factory=self._build_http, shutdown_grace=HTTP_SHUTDOWN_GRACE),
        ]
        return Supervisor(
            name="root",
            children=specs,
            rng=self.rng,
            on_event=supervisor_event_logger(self.logger.child("supervisor")),
        )

    def stop(self) -> None:
        """Ask for a graceful stop: children stop in reverse start order."""
        self.root.stop()

    def metrics(self) -> Iterable[Metric]:
        """Current metric families (called by the HTTP actor per scrape)."""
        return [
            *supervisor_metrics([self.root.statistics()]),
            *pool_metrics(None if self._pool is None else self._pool.statistics()),
            *log_metrics(self.logger.drops),
        ]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the tree until `stop()` (returns) or an escalated failure (raises)."""
        self.logger.info("gateway starting", bot=self.loaded.bot_dir, config=self.loaded.path)
        for fix in self.permission_fixes:
            self.logger.warn(
                f"tightened permissions of {fix.path}: {fix.old_mode:o} -> {fix.new_mode:o}"
            )
        await self.root.run(task_status=task_status)

    def _build_log(self, env: ChildEnv) -> LogActor:
        config = self.loaded.config.logging
        return LogActor(
            receive_channel=self.log_inbox,
            drops=self.logger.drops,
            redactor=Redactor(self.loaded.secret_values),
            sinks=sinks_from_config(config, bot_dir=self.loaded.bot_dir, stderr=self.stderr),
            min_level=level_from_config(config.level),
        )

    def _build_pool(self, env: ChildEnv) -> SandboxPool:
        self._pool = SandboxPool.from_config(
            self.loaded.config.tools,
            workspace=self.loaded.workspace,
            bot_dir=self.loaded.bot_dir,
            logger=self.logger.child("sandbox"),
        )
        return self._pool

    def _build_http(self, env: ChildEnv) -> HttpActor:
        gateway = self.loaded.config.gateway
        return HttpActor(
            host=gateway.host,
            port=gateway.port,
            metrics=self.metrics,
            logger=self.logger.child("http"),
            stopping=env.stopping,
            on_listening=self._listening,
        )

    def _listening(self, url: str) -> None:
        self.http_url = url


def build_gateway(
    loaded: LoadedConfig,
    *,
    stderr: TextIO | None = None,
    rng: random.Random | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> Gateway:
    """Wire the gateway's tree for `loaded` and tighten loose state-file modes
    (reported once it runs); nothing runs until `Gateway.run`."""
    logger, log_inbox = open_log_mailbox("gateway", wall_clock=wall_clock)
    files, dirs = state_permissions(loaded)
    return Gateway(
        loaded=loaded,
        logger=logger,
        log_inbox=log_inbox,
        stderr=stderr,
        rng=rng or random.Random(),
        permission_fixes=tuple(tighten_permissions(files, dirs)),
    )
