"""The bot's status as one immutable value, and its two renderings (pure).

`BotStatus` holds what `autobot status` found: where the bot is, its model
and provider, the gateway's answer (or why there was none), each enabled
channel and whether it is connected, cron jobs, sessions and the newest
errors. `render_text` is the one-screen view, `render_json` one JSON object
with the same facts. Every string that came from outside (log lines, health
problems, error reasons) has had the bot's known secrets removed and its
control characters escaped before it got here (`clean`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import attrs

from autobot.logs.redact import Redactor

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def clean(text: str, redactor: Redactor) -> str:
    """`text` with the bot's known secrets redacted and control characters
    escaped (a log line cannot move the cursor or clear the screen)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", redactor.redact_known(text))


@attrs.frozen
class CronCount:
    """The jobs in the cron store and how many of them are enabled."""

    jobs: int
    enabled: int


@attrs.frozen
class LogError:
    """One ERROR record of the log: when, which actor, the rest of the line."""

    time: str
    source: str
    message: str


@attrs.frozen
class ChannelState:
    """An enabled channel: `connected` is None when the gateway cannot say."""

    name: str
    connected: bool | None


@attrs.frozen(kw_only=True)
class GatewayState:
    """The gateway at `url`: running (it answered), healthy, its problems,
    and `detail` (why it did not answer, or what could not be read)."""

    url: str
    running: bool
    healthy: bool = False
    problems: tuple[str, ...] = ()
    detail: str = ""
    active_sessions: int | None = None


@attrs.frozen(kw_only=True)
class BotStatus:
    """Everything `autobot status` shows (see the module docstring)."""

    config_file: str
    bot_dir: str
    model: str
    provider: str | None
    provider_problem: str | None
    gateway: GatewayState
    channels: tuple[ChannelState, ...]
    cron_enabled: bool
    cron: CronCount | str
    sessions: int | str
    last_errors: tuple[LogError, ...] | str


def _connected(state: ChannelState) -> str:
    if state.connected is None:
        return "unknown"
    return "connected" if state.connected else "not connected"


def _gateway_line(gateway: GatewayState) -> str:
    if not gateway.running:
        return f"not running (no gateway at {gateway.url}: {gateway.detail})"
    health = "healthy" if gateway.healthy else "unhealthy"
    return f"running at {gateway.url}, {health}"


def _cron_line(status: BotStatus) -> str:
    if isinstance(status.cron, str):
        line = status.cron
    else:
        line = f"{status.cron.jobs} jobs ({status.cron.enabled} enabled)"
    return line if status.cron_enabled else f"disabled in config.yml; the store: {line}"


def _sessions_line(status: BotStatus) -> str:
    stored = status.sessions if isinstance(status.sessions, str) else f"{status.sessions} stored"
    active = status.gateway.active_sessions
    return stored if active is None else f"{stored}, {active} active"


def _indented(lines: Iterable[str]) -> list[str]:
    return [f"  {line}" for line in lines]


def render_text(status: BotStatus) -> str:
    """The one-screen view."""
    provider = status.provider or "?"
    model = f"{status.model} (provider {provider})"
    if status.provider_problem:
        model += f": {status.provider_problem}"
    if not status.channels:
        channels = "none enabled"
    else:
        channels = ", ".join(f"{c.name} {_connected(c)}" for c in status.channels)
    lines = [
        f"Bot:        {status.bot_dir}",
        f"Config:     {status.config_file}",
        f"Model:      {model}",
        f"Gateway:    {_gateway_line(status.gateway)}",
        *_indented(status.gateway.problems),
        *(
            [f"            ({status.gateway.detail})"]
            if status.gateway.running and status.gateway.detail
            else []
        ),
        f"Channels:   {channels}",
        f"Cron:       {_cron_line(status)}",
        f"Sessions:   {_sessions_line(status)}",
    ]
    if isinstance(status.last_errors, str):
        lines.append(f"Errors:     {status.last_errors}")
    elif not status.last_errors:
        lines.append("Errors:     none in the log")
    else:
        lines.append("Last errors (oldest first):")
        lines += _indented(f"{e.time} [{e.source}] {e.message}" for e in status.last_errors)
    return "\n".join(lines) + "\n"


def status_json(status: BotStatus) -> dict[str, object]:
    """The same facts as one JSON-ready object."""
    gateway = status.gateway
    cron: dict[str, object] = {"enabled": status.cron_enabled}
    if isinstance(status.cron, str):
        cron["error"] = status.cron
    else:
        cron |= {"jobs": status.cron.jobs, "enabled_jobs": status.cron.enabled}
    sessions: dict[str, object] = {"active": gateway.active_sessions}
    if isinstance(status.sessions, str):
        sessions["error"] = status.sessions
    else:
        sessions["stored"] = status.sessions
    document: dict[str, object] = {
        "bot_dir": status.bot_dir,
        "config": status.config_file,
        "model": status.model,
        "provider": status.provider,
        "provider_problem": status.provider_problem,
        "gateway": {
            "url": gateway.url,
            "running": gateway.running,
            "healthy": gateway.healthy if gateway.running else None,
            "problems": list(gateway.problems),
            "detail": gateway.detail or None,
        },
        "channels": [{"name": c.name, "connected": c.connected} for c in status.channels],
        "cron": cron,
        "sessions": sessions,
    }
    if isinstance(status.last_errors, str):
        document["last_errors"] = None
        document["last_errors_problem"] = status.last_errors
    else:
        document["last_errors"] = [attrs.asdict(e) for e in status.last_errors]
    return document


def render_json(status: BotStatus) -> str:
    """`status_json` serialized, indented, with a trailing newline."""
    return json.dumps(status_json(status), indent=2) + "\n"
