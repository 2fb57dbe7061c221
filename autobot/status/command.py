"""`autobot status [--json]`: what the bot is, and how its gateway runs.

Reads config.yml (no SDK, no gateway import: it stays fast), asks the
gateway at `gateway.host:gateway.port` (`autobot.status.probe`, at most a
couple of seconds), and reads the cron store, the sessions directory and
the tail of the log (`autobot.status.local`). A gateway that does not answer
is a fact like any other: the exit code is 0 whenever the config loads, 1
(one line on stderr) when it does not.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TextIO

import attrs
import trio

from autobot.config.errors import ConfigError
from autobot.config.load import LoadedConfig, load_config
from autobot.config.schema import CHANNEL_NAMES, PROVIDER_NAMES
from autobot.llm.selection import ProviderConfigError, select_provider
from autobot.logs.redact import Redactor
from autobot.status.facts import (
    BotStatus,
    ChannelState,
    CronCount,
    GatewayState,
    LogError,
    clean,
    render_json,
    render_text,
)
from autobot.status.local import cron_count, last_errors, session_count
from autobot.status.probe import GatewayAnswer, ask_gateway

Ask = Callable[[str, int], Awaitable[GatewayAnswer]]


def _provider(loaded: LoadedConfig) -> tuple[str | None, str | None]:
    """(provider name, why it cannot be used) for the configured model."""
    model = loaded.config.agents.defaults.model
    try:
        return select_provider(model, loaded.config.providers)[0], None
    except (ValueError, ProviderConfigError) as exc:
        prefix = model.partition("/")[0]
        return (prefix if prefix in PROVIDER_NAMES else None), str(exc)


def _channels(loaded: LoadedConfig, answer: GatewayAnswer) -> tuple[ChannelState, ...]:
    up = {
        sample.labels.get("channel"): sample.value == 1
        for sample in answer.samples.get("autobot_channel_up", ())
    }
    return tuple(
        ChannelState(name=name, connected=up.get(name) if answer.running else None)
        for name in CHANNEL_NAMES
        if getattr(loaded.config.channels, name).enabled
    )


def _gateway(answer: GatewayAnswer, redactor: Redactor) -> GatewayState:
    active = answer.samples.get("autobot_sessions_active", ())
    return GatewayState(
        url=answer.url,
        running=answer.running,
        healthy=answer.healthy,
        problems=tuple(clean(line, redactor) for line in answer.problems),
        detail=clean(answer.detail, redactor),
        active_sessions=int(active[0].value) if active else None,
    )


def _cleaned_errors(found: list[LogError] | str, redactor: Redactor) -> tuple[LogError, ...] | str:
    if isinstance(found, str):
        return clean(found, redactor)
    return tuple(
        LogError(
            time=clean(e.time, redactor),
            source=clean(e.source, redactor),
            message=clean(e.message, redactor),
        )
        for e in found
    )


@attrs.frozen
class _Local:
    cron: CronCount | str
    sessions: int | str
    errors: list[LogError] | str


def _read_local(loaded: LoadedConfig) -> _Local:
    return _Local(
        cron=cron_count(loaded.cron_store),
        sessions=session_count(loaded.sessions_dir),
        errors=last_errors(loaded.logs_dir),
    )


async def gather(loaded: LoadedConfig, *, ask: Ask = ask_gateway) -> BotStatus:
    """Every fact `autobot status` shows for the bot `loaded`."""
    redactor = Redactor(known_secrets=loaded.secret_values)
    answer = await ask(loaded.config.gateway.host, loaded.config.gateway.port)
    reads = trio.CapacityLimiter(1)  # one blocking read job, for this status only
    local = await trio.to_thread.run_sync(_read_local, loaded, limiter=reads)
    provider, problem = _provider(loaded)
    return BotStatus(
        config_file=str(loaded.path),
        bot_dir=str(loaded.bot_dir),
        model=clean(loaded.config.agents.defaults.model, redactor),
        provider=provider,
        provider_problem=None if problem is None else clean(problem, redactor),
        gateway=_gateway(answer, redactor),
        channels=_channels(loaded, answer),
        cron_enabled=loaded.config.cron.enabled,
        cron=local.cron if isinstance(local.cron, CronCount) else clean(local.cron, redactor),
        sessions=local.sessions
        if isinstance(local.sessions, int)
        else clean(local.sessions, redactor),
        last_errors=_cleaned_errors(local.errors, redactor),
    )


def status_main(
    config_path: Path,
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    ask: Ask = ask_gateway,
) -> int:
    """Run `autobot status` for the bot at `config_path` (see the module docstring)."""
    try:
        loaded = load_config(config_path, environ)
    except ConfigError as exc:
        err.write(f"autobot: {exc}\n")
        return 1
    status = trio.run(lambda: gather(loaded, ask=ask))
    out.write(render_json(status) if args.json else render_text(status))
    return 0
