"""What the benchmark needs to start one peer's gateway, whichever peer it is.

A peer (`bench.autobot_peer`, `bench.nanobot_peer`) turns the fakes'
addresses into a `GatewayLaunch`: the command, its environment and working
directory, the signal that stops it gracefully, and the settings it was
given (printed with the figures, so nobody has to guess what ran).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from pathlib import Path

import attrs


@attrs.frozen(kw_only=True)
class Fakes:
    """The fakes one measurement uses: the chat network's API (Telegram: the Bot
    API base URL and the bot token; Slack: the Web API base, the bot token and
    the app-level `app_token`) and the model."""

    telegram_url: str
    telegram_token: str
    model_url: str
    app_token: str = ""


@attrs.frozen(kw_only=True)
class GatewayLaunch:
    """How to start and stop a gateway; `settings` are one line each."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    stop_signal: signal.Signals
    settings: tuple[str, ...]


class PeerUnavailable(Exception):
    """A peer cannot be installed or pointed at the fakes; the message says why."""


def clean_environment(**overrides: str) -> dict[str, str]:
    """The benchmark's environment without API keys (each peer reads its own
    from its files) and with `overrides`; output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return {**env, "PYTHONUNBUFFERED": "1", **overrides}
