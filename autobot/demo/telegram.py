"""The demo's Telegram channel, in memory only (pure).

`with_demo_telegram` returns a copy of the loaded config (never written
anywhere) whose only chat channel is Telegram, long polling the loopback Bot
API stand-in with a throwaway token and the scenario's access lists. The
token joins `secret_values`, as a real one from `.env` would, so the log
actor redacts it. The conversations of the demo are kept in `state_dir`, a
directory of the run's own, so the demo's users never share a session
journal with the bot's real ones.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from autobot.config import LoadedConfig
from autobot.config.schema import (
    ChannelsConfig,
    DmPolicy,
    GroupPolicy,
    TelegramConfig,
    TelegramMode,
)
from autobot.config.secret import Secret
from autobot.demo.scenario import ALLOW_FROM, GROUP_ALLOW_FROM

SESSIONS_DIR = "sessions"


def demo_telegram_config(*, api_base: str, token: str) -> TelegramConfig:
    """Telegram at `api_base` with `token`, allowing the scenario's cast."""
    return TelegramConfig(
        enabled=True,
        token=Secret(token),
        allow_from=ALLOW_FROM,
        dm_policy=DmPolicy.ALLOWLIST,
        group_policy=GroupPolicy.MENTION,
        group_allow_from=GROUP_ALLOW_FROM,
        mode=TelegramMode.POLLING,
        api_base=api_base,
    )


def with_demo_telegram(
    loaded: LoadedConfig, *, api_base: str, token: str, state_dir: Path
) -> LoadedConfig:
    """`loaded` with Telegram as `demo_telegram_config` says and every other
    chat channel off, session journals under `state_dir/sessions`; the
    workspace, sandbox, limits, gateway and logging settings are kept."""
    config = loaded.config
    channels = ChannelsConfig(
        down_grace_seconds=config.channels.down_grace_seconds,
        telegram=demo_telegram_config(api_base=api_base, token=token),
    )
    return attrs.evolve(
        loaded,
        config=attrs.evolve(config, channels=channels),
        sessions_dir=state_dir / SESSIONS_DIR,
        secret_values=loaded.secret_values | {token},
    )
