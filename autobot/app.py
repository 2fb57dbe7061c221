"""The composition root: builds the gateway's supervision tree from a `LoadedConfig`.

This is the only module that knows every actor. The tree (see ARCHITECTURE.md):

    root supervisor (one_for_one)
    ├── log        redacts every record, then writes logs/autobot.log (and
    │              stderr for the gateway); started first, stopped last
    ├── channels   supervisor of one actor per enabled chat channel (telegram...)
    ├── sandbox    the sandbox pool actor (persistent bubblewrap workers)
    ├── router     the session router: one agent actor per `channel:chat_id`
    ├── cron       the cron scheduler: fires jobs into the router (agent turns)
    │              and the sandbox (commands); when `cron.enabled`, gateway only
    └── http       /healthz and /metrics on gateway.host:gateway.port (gateway only)

Each `ChildSpec.factory` builds a fresh actor per incarnation. What must
outlive an incarnation is created here, once: the log mailbox (so every
`Logger` keeps working across log actor restarts), the router's inbound
mailbox (owned by the root supervisor), one outbound mailbox per enabled
channel (replies are routed to it by `message.channel`, so a slow network
only ever fills its own), each channel's health record, the LLM provider,
the tool registry, the `PoolRef` through which tools reach whichever
pool incarnation is running, the global LLM limits (`GlobalLimits`: a router
restart neither refills the global bucket nor forgets today's spend), each
session's rate buckets (`SessionLimitsKeeper`, for the same reason) and the
cron scheduler's wake-up channel (the `cron` tool pokes it). The wall clock
is injected once (`wall_clock`) and reaches the agent actors, the cron
scheduler and tool, and the log records. `autobot gateway`, `autobot agent` and
`autobot demo` all run this tree; they differ only in the channels they
enable (`ChannelSpec`: the chat channels, or the terminal).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterable
from typing import TextIO

import attrs
import trio

from autobot.agent.assembly import build_deps, build_tools, global_limits
from autobot.agent.router import ROUTER_MAILBOX_SIZE, SessionRouter
from autobot.agent.spend import GlobalLimits
from autobot.channels.base import InboundMessage
from autobot.channels.health import ChannelBoard
from autobot.channels.outbound import OutboundRouter
from autobot.channels.slack.launch import slack_channel
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.channels.telegram.launch import telegram_channel
from autobot.channels.whatsapp.launch import whatsapp_channel
from autobot.channels.zulip.launch import zulip_channel
from autobot.config import LoadedConfig
from autobot.config.state_files import state_permissions
from autobot.cron.runner import GatewayRunner
from autobot.cron.scheduler import CronScheduler, open_wake_channel
from autobot.cron.settings import cron_limits
from autobot.cron.tool import CronSetup
from autobot.gateway.metrics import (
    channel_metrics,
    log_metrics,
    pool_metrics,
    router_metrics,
    supervisor_metrics,
)
from autobot.http.actor import HttpActor
from autobot.http.metrics import Metric
from autobot.limits.buckets import SessionLimitsKeeper
from autobot.llm.limits import ProviderLimits
from autobot.llm.selection import ManagedProvider, build_provider, select_provider
from autobot.logs.actor import LogActor, level_from_config, open_log_mailbox
from autobot.logs.records import Level, Logger, LogRecord
from autobot.logs.redact import Redactor
from autobot.logs.sinks import sinks_from_config
from autobot.runtime import (
    Actor,
    ChildEnv,
    ChildSpec,
    EventKind,
    Mailbox,
    Supervisor,
    SupervisorEvent,
)
from autobot.runtime.gc_policy import serving_gc
from autobot.sandbox.leaser import PoolRef
from autobot.sandbox.pool import SandboxPool
from autobot.store.permissions import PermissionFix, tighten_permissions
from autobot.tools.registry import ToolRegistry

# The log actor is cancelled at once when the tree stops (it is the last child
# left): its cancel path writes what is waiting and closes the sinks, bounded.
LOG_SHUTDOWN_GRACE = 0.0
# Sandbox workers hold no state worth waiting for, and the actors that lease them
# stop before the pool does: cancel it at once.
SANDBOX_SHUTDOWN_GRACE = 0.0
# Lets in-flight HTTP requests finish.
HTTP_SHUTDOWN_GRACE = 3.0
# Lets agent actors finish the turn in progress (an LLM call and a tool or two).
ROUTER_SHUTDOWN_GRACE = 10.0
# Replies waiting for one channel's actor; it drains them continuously, and a
# burst is at most a few messages per active session of that channel.
CHANNEL_MAILBOX_SIZE = 256
# Lets a channel actor finish sending the reply in progress.
CHANNELS_SHUTDOWN_GRACE = 5.0
# Lets running cron jobs end (a command, or an agent turn's reply: the router
# stops after the scheduler); a run still going then is recorded as interrupted.
CRON_SHUTDOWN_GRACE = 10.0
PROVIDER_CLOSE_SECONDS = 5.0

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


@attrs.define(kw_only=True, eq=False)
class Gateway:
    """One bot's running tree: the root supervisor and the handles its actors share.

    Build with `build_gateway`, then `await nursery.start(gateway.run)` (or
    `await gateway.run()`); `stop()` asks for a graceful stop. `http_url` is
    set once the HTTP actor listens. `wall_clock` gives seconds since the
    epoch to everything that dates or schedules. `run_cron` says whether this
    tree runs the cron scheduler and offers the `cron` tool (when
    `cron.enabled`): `autobot gateway` does; `agent` and `demo` must not run
    the bot's jobs beside a gateway.
    """

    loaded: LoadedConfig
    logger: Logger
    log_inbox: trio.MemoryReceiveChannel[LogRecord]
    provider: ManagedProvider
    bare_model: str
    wall_clock: Callable[[], float]
    echo: TextIO | None = None
    serve_http: bool = True
    rng: random.Random = attrs.field(factory=random.Random)
    permission_fixes: tuple[PermissionFix, ...] = ()
    channels: tuple[ChannelSpec, ...] = ()
    run_cron: bool = True
    http_url: str | None = attrs.field(init=False, default=None)
    pool: PoolRef = attrs.field(init=False, factory=PoolRef)
    mailboxes: dict[str, Mailbox] = attrs.field(init=False)
    outbound: OutboundRouter = attrs.field(init=False)
    board: ChannelBoard = attrs.field(init=False)
    # The scheduler's wake-up channel: the `cron` tool holds the send side,
    # each scheduler incarnation a clone of the receive side.
    _cron_wake: tuple[trio.MemorySendChannel[None], trio.MemoryReceiveChannel[None]] = attrs.field(
        init=False, factory=open_wake_channel
    )
    _cron: CronSetup | None = attrs.field(init=False)
    tools: ToolRegistry = attrs.field(init=False)
    root: Supervisor = attrs.field(init=False)
    _router: SessionRouter | None = attrs.field(init=False, default=None)
    # The global LLM ceiling and daily budget, and each session's rate buckets:
    # built with the first router incarnation (inside trio), then handed to
    # every later one.
    _shared: GlobalLimits | None = attrs.field(init=False, default=None)
    _session_limits: SessionLimitsKeeper | None = attrs.field(init=False, default=None)

    @mailboxes.default
    def _open_mailboxes(self) -> dict[str, Mailbox]:
        return {spec.name: Mailbox(spec.name, CHANNEL_MAILBOX_SIZE) for spec in self.channels}

    @outbound.default
    def _build_outbound(self) -> OutboundRouter:
        return OutboundRouter(
            mailboxes={name: mailbox.sender() for name, mailbox in self.mailboxes.items()}
        )

    @board.default
    def _build_board(self) -> ChannelBoard:
        return ChannelBoard.for_channels((spec.name for spec in self.channels), now=0.0)

    @_cron.default
    def _cron_setup(self) -> CronSetup | None:
        if not (self.run_cron and self.loaded.config.cron.enabled):
            return None
        return CronSetup(
            store_path=self.loaded.cron_store,
            limits=cron_limits(self.loaded.config.cron),
            wall_clock=self.wall_clock,
            rng=self.rng,
            wake=self._cron_wake[0],
        )

    @tools.default
    def _build_tools(self) -> ToolRegistry:
        return build_tools(
            self.loaded.config,
            workspace=self.loaded.workspace,
            outbound=self.outbound,
            pool=self.pool,
            cron=self._cron,
        )

    @root.default
    def _build_root(self) -> Supervisor:
        specs = [ChildSpec(id="log", factory=self._build_log, shutdown_grace=LOG_SHUTDOWN_GRACE)]
        # Channels start right after the log, so the first poll waits for no
        # other start-up (the sandbox probe and workers; the LLM SDK loads at
        # the first model call);
        # what they receive meanwhile waits in the router's mailbox. They stop
        # after the router: the replies of the turns the router finishes while
        # stopping are still delivered.
        if self.channels:
            specs.append(
                ChildSpec(
                    id="channels",
                    factory=self._build_channels,
                    shutdown_grace=CHANNELS_SHUTDOWN_GRACE,
                )
            )
        specs.append(
            ChildSpec(id="sandbox", factory=self._build_pool, shutdown_grace=SANDBOX_SHUTDOWN_GRACE)
        )
        specs.append(
            ChildSpec(
                id="router",
                factory=self._build_router,
                shutdown_grace=ROUTER_SHUTDOWN_GRACE,
                mailbox_size=ROUTER_MAILBOX_SIZE,
            )
        )
        if self._cron is not None:
            specs.append(
                ChildSpec(id="cron", factory=self._build_cron, shutdown_grace=CRON_SHUTDOWN_GRACE)
            )
        if self.serve_http:
            specs.append(
                ChildSpec(id="http", factory=self._build_http, shutdown_grace=HTTP_SHUTDOWN_GRACE)
            )
        return Supervisor(
            name="root",
            children=specs,
            rng=self.rng,
            on_event=supervisor_event_logger(self.logger.child("supervisor")),
        )

    def stop(self) -> None:
        """Ask for a graceful stop: children stop in reverse start order."""
        self.root.stop()

    def inbound(self) -> trio.MemorySendChannel[InboundMessage]:
        """A sender into the router's mailbox (the caller owns and closes it)."""
        return self.root.mailbox("router")

    def health_problems(self) -> list[str]:
        """Enabled channels down longer than `channels.down_grace_seconds`, or stopped."""
        grace = self.loaded.config.channels.down_grace_seconds
        return self.board.problems(trio.current_time(), grace)

    def metrics(self) -> Iterable[Metric]:
        """Current metric families (called by the HTTP actor per scrape)."""
        return [
            *supervisor_metrics([self.root.statistics()]),
            *pool_metrics(self.pool.statistics()),
            *router_metrics(None if self._router is None else self._router.statistics()),
            *channel_metrics(self.board.snapshots()),
            *log_metrics(self.logger.drops),
        ]

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the tree until `stop()` (returns) or an escalated failure (raises),
        with the collector set for serving (`serving_gc`, process-wide)."""
        self.logger.info("gateway starting", bot=self.loaded.bot_dir, config=self.loaded.path)
        for fix in self.permission_fixes:
            self.logger.warn(
                f"tightened permissions of {fix.path}: {fix.old_mode:o} -> {fix.new_mode:o}"
            )
        try:
            with serving_gc():
                await self.root.run(task_status=task_status)
        finally:
            await self.discard()

    async def discard(self) -> None:
        """Close what `build_gateway` opened (the provider), bounded and shielded:
        after `run`, or instead of it when the tree will never run."""
        with trio.move_on_after(PROVIDER_CLOSE_SECONDS, shield=True):
            await self.provider.aclose()

    def _build_log(self, env: ChildEnv) -> LogActor:
        config = self.loaded.config.logging
        return LogActor(
            receive_channel=self.log_inbox,
            drops=self.logger.drops,
            redactor=Redactor(self.loaded.secret_values),
            sinks=sinks_from_config(config, logs_dir=self.loaded.logs_dir, echo=self.echo),
            min_level=level_from_config(config.level),
        )

    def _build_pool(self, env: ChildEnv) -> SandboxPool:
        self.pool.current = SandboxPool.from_config(
            self.loaded.config.tools,
            workspace=self.loaded.workspace,
            bot_dir=self.loaded.bot_dir,
            logger=self.logger.child("sandbox"),
        )
        return self.pool.current

    def _build_router(self, env: ChildEnv) -> SessionRouter:
        assert env.inbox is not None  # the spec has a mailbox
        if self._shared is None:
            self._shared = global_limits(self.loaded.config)
        deps = build_deps(
            self.loaded.config,
            provider=self.provider,
            bare_model=self.bare_model,
            registry=self.tools,
            workspace=self.loaded.workspace,
            sessions_dir=self.loaded.sessions_dir,
            outbound=self.outbound,
            logger=self.logger.child("agent"),
            shared=self._shared,
            wall_clock=self.wall_clock,
        )
        if self._session_limits is None:
            self._session_limits = SessionLimitsKeeper(deps.rate_limits)
        self._router = SessionRouter(
            deps=deps, inbox=env.inbox, stopping=env.stopping, limits=self._session_limits
        )
        return self._router

    def _build_cron(self, env: ChildEnv) -> CronScheduler:
        assert self._cron is not None  # the spec exists only then
        logger = self.logger.child("cron")
        runner = GatewayRunner(
            router=self.root.mailbox("router"),
            outbound=self.outbound,
            channels=frozenset(self.mailboxes),
            pool=self.pool,
            command_timeout=self.loaded.config.tools.exec.timeout,
            logger=logger,
        )
        return CronScheduler(
            store_path=self._cron.store_path,
            runner=runner,
            wall_clock=self.wall_clock,
            default_tz=self._cron.limits.default_tz,
            logger=logger,
            wake=self._cron_wake[1].clone(),
            stopping=env.stopping,
        )

    def _build_channels(self, env: ChildEnv) -> Supervisor:
        """The channel supervisor: one child per enabled channel, restarted as
        its spec says (the terminal is temporary). A channel's network trouble
        is handled inside its actor (cool-down and reconnect); what escapes it
        is a bug and counts toward the restart intensity."""
        for name in self.board.channels:
            self.board[name].mark_down(trio.current_time(), "starting")
        children = [
            ChildSpec(
                id=spec.name,
                factory=functools.partial(self._build_channel, spec),
                restart=spec.restart,
                shutdown_grace=CHANNELS_SHUTDOWN_GRACE,
            )
            for spec in self.channels
        ]
        return Supervisor(
            name="channels",
            children=children,
            rng=self.rng,
            stopping=env.stopping,
            on_event=supervisor_event_logger(self.logger.child("supervisor")),
        )

    def _build_channel(self, spec: ChannelSpec, env: ChildEnv) -> Actor:
        return spec.factory(
            ChannelEnv(
                name=spec.name,
                outbox=self.mailboxes[spec.name].inbox(),
                router=self.root.mailbox("router"),
                health=self.board[spec.name],
                logger=self.logger.child(spec.name),
                stopping=env.stopping,
                rng=self.rng,
            )
        )

    def _build_http(self, env: ChildEnv) -> HttpActor:
        gateway = self.loaded.config.gateway
        return HttpActor(
            host=gateway.host,
            port=gateway.port,
            metrics=self.metrics,
            health=self.health_problems,
            webhooks={path: hook for spec in self.channels for path, hook in spec.webhooks.items()},
            logger=self.logger.child("http"),
            stopping=env.stopping,
            on_listening=self._listening,
        )

    def _listening(self, url: str) -> None:
        self.http_url = url


def chat_channels(
    loaded: LoadedConfig, *, wall_clock: Callable[[], float] = time.time
) -> list[ChannelSpec]:
    """The chat channels `config.yml` enables that this version can run."""
    channels = loaded.config.channels
    specs: list[ChannelSpec] = []
    if channels.telegram.enabled:
        specs.append(telegram_channel(channels.telegram, loaded, wall_clock=wall_clock))
    if channels.slack.enabled:
        specs.append(slack_channel(channels.slack, loaded, wall_clock=wall_clock))
    if channels.zulip.enabled:
        specs.append(zulip_channel(channels.zulip, loaded, wall_clock=wall_clock))
    if channels.whatsapp.enabled:
        specs.append(whatsapp_channel(channels.whatsapp, loaded, wall_clock=wall_clock))
    return specs


def build_gateway(
    loaded: LoadedConfig,
    *,
    echo: TextIO | None = None,
    serve_http: bool = True,
    rng: random.Random | None = None,
    wall_clock: Callable[[], float] = time.time,
    provider_limits: ProviderLimits | None = None,
    channels: Iterable[ChannelSpec] = (),
    run_cron: bool = True,
) -> Gateway:
    """Wire the tree for `loaded` and tighten loose state-file modes (reported
    once it runs); nothing runs until `Gateway.run`. `echo` also receives every
    log line (the gateway's stderr). `wall_clock` (the real clock unless a
    test injects one) dates and schedules everything; `run_cron` see
    `Gateway`. Raises ProviderConfigError when the configured model's
    provider is not usable."""
    chosen_rng = rng or random.Random()
    logger, log_inbox = open_log_mailbox("gateway", wall_clock=wall_clock)
    model = loaded.config.agents.defaults.model
    _, bare_model = select_provider(model, loaded.config.providers)
    provider = build_provider(
        model,
        loaded.config.providers,
        limits=provider_limits or ProviderLimits(),
        rng=chosen_rng,
        logger=logger.child("llm"),
    )
    files, dirs = state_permissions(loaded)
    return Gateway(
        loaded=loaded,
        logger=logger,
        log_inbox=log_inbox,
        provider=provider,
        bare_model=bare_model,
        wall_clock=wall_clock,
        echo=echo,
        serve_http=serve_http,
        rng=chosen_rng,
        permission_fixes=tuple(tighten_permissions(files, dirs)),
        channels=tuple(channels),
        run_cron=run_cron,
    )
