"""Building the agent stack from configuration: the tool set and the shared deps.

`build_tools` assembles the registry every session shares: the sandboxed
file and exec tools (when a sandbox `WorkerLeaser` is given), `web_fetch`,
`web_search`, `message`, `cron` (when `cron.enabled` and the composition
root runs the scheduler), plus any `extra` tools. The per-session `spawn`
tool is added by each agent actor itself. `build_deps`
ties a provider, the registry and the outbound mailbox to the configuration.
Both are used by `autobot agent` and by the gateway's composition root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import trio

from autobot.agent.loop import AgentLoop, LoopSettings
from autobot.agent.session import AgentDeps
from autobot.agent.session_store import SessionStore
from autobot.agent.spend import GlobalLimits
from autobot.channels.outbound import OutboundSink
from autobot.config.schema import Config
from autobot.cron.tool import CronSetup, CronTool
from autobot.llm.types import LLMProvider
from autobot.logs.records import Logger
from autobot.runtime.batching import BlockingRunner, ThreadBatcher
from autobot.sandbox.leaser import WorkerLeaser
from autobot.tools.base import Tool
from autobot.tools.exec import ExecTool
from autobot.tools.files import EditFileTool, ListDirTool, ReadFileTool, WriteFileTool
from autobot.tools.message import MessageTool
from autobot.tools.registry import ToolRegistry
from autobot.tools.web_fetch import WebFetchTool
from autobot.tools.web_search import WebSearchTool

# Worker threads for blocking file work (journal appends with fsync, prompt
# files) across all sessions. Measured on 2 cores: more threads only fight
# the event loop for the GIL; fewer serialise fsync waits.
DISK_THREADS = 4
# Calls a worker takes at once (run one after the other, their callers woken
# together): a burst of sessions costs the event loop one wake-up per batch
# instead of one thread hand-out per call, and a batch (at most this many
# appends, each with its fsync) stays short.
DISK_BATCH = 32
# Threads for the writes no turn waits for at once (see AgentDeps.background).
BACKGROUND_THREADS = 2


def build_tools(
    config: Config,
    *,
    workspace: Path,
    outbound: OutboundSink,
    pool: WorkerLeaser | None,
    cron: CronSetup | None = None,
    extra: Iterable[Tool] = (),
) -> ToolRegistry:
    """The shared tool registry. Without a pool there are no file or exec tools
    (and `cron` takes no command jobs). `message` may reach other
    conversations only when the owner set `tools.message.allow_other_chats`.
    `cron` is offered when `cron` is given (a scheduler runs) and
    `cron.enabled`.

    Raises ValueError (from `ToolRegistry.of`) on a duplicate name or a schema
    the registry cannot enforce.
    """
    tools: list[Tool] = []
    if pool is not None:
        tools += [
            ReadFileTool(pool=pool, workspace=workspace),
            WriteFileTool(pool=pool, workspace=workspace),
            EditFileTool(pool=pool, workspace=workspace),
            ListDirTool(pool=pool, workspace=workspace),
            ExecTool(pool=pool, workspace=workspace, timeout=config.tools.exec.timeout),
        ]
    tools += [
        WebFetchTool(config=config.tools.web),
        WebSearchTool(config=config.tools.web.search),
        MessageTool(outbound=outbound, allow_other_chats=config.tools.message.allow_other_chats),
    ]
    if cron is not None and config.cron.enabled:
        tools.append(CronTool.from_setup(cron, commands=pool is not None))
    tools += extra
    return ToolRegistry.of(tools)


def build_deps(
    config: Config,
    *,
    provider: LLMProvider,
    bare_model: str,
    registry: ToolRegistry,
    workspace: Path,
    sessions_dir: Path,
    outbound: OutboundSink,
    logger: Logger,
    shared: GlobalLimits,
    wall_clock: Callable[[], float],
    disk: BlockingRunner | None = None,
) -> AgentDeps:
    """Everything the session router and its agent actors share.

    `shared` (the global LLM ceiling and daily budget, `global_limits`) and
    `wall_clock` come from the composition root, which keeps `shared` across
    router restarts. Raises SessionStoreError when `sessions_dir` is inside
    the workspace.
    """
    defaults = config.agents.defaults
    rate_limits = config.tools.rate_limit
    return AgentDeps(
        loop=AgentLoop(
            provider=provider,
            registry=registry,
            settings=LoopSettings.from_defaults(defaults, model=bare_model),
        ),
        journal=SessionStore(sessions_dir, workspace),
        workspace=workspace,
        defaults=defaults,
        rate_limits=rate_limits,
        shared=shared,
        outbound=outbound,
        logger=logger,
        disk=disk or ThreadBatcher(threads=DISK_THREADS, max_batch=DISK_BATCH),
        background=disk or ThreadBatcher(threads=BACKGROUND_THREADS, max_batch=DISK_BATCH),
        wall_clock=wall_clock,
    )


def global_limits(config: Config) -> GlobalLimits:
    """The global LLM ceiling (full now: call inside trio) and daily budget of
    `config`, to be built once per process and given to every router."""
    return GlobalLimits.from_config(
        config.tools.rate_limit.global_llm, config.agents.defaults.budget, trio.current_time()
    )
