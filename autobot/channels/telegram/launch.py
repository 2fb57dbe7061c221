"""Builds one Telegram channel incarnation per start (the `ChannelSpec.factory`).

`TelegramLauncher` holds what every incarnation shares (the config, the bot
directory, the workspace, the wall clock); each call builds a
`TelegramIncarnation`, whose `run` opens that incarnation's resources (an
HTTP client, the inbound journal, the pairing store), runs the
`TelegramChannel` actor and closes them, whatever happens. A channel that
cannot work as configured (no token, a malformed one, allow-list entries
that can never match) is stopped, not restarted: it says why in the log and
in `/healthz`, and drains its mailbox so no sender blocks on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import httpx
import trio

from autobot.channels.access import AccessConfigError, AccessPolicy
from autobot.channels.gate import open_channel_gate
from autobot.channels.spec import ChannelEnv
from autobot.channels.telegram.actor import TelegramChannel, drain_stopped
from autobot.channels.telegram.api import TelegramApi
from autobot.channels.telegram.inbox import InboxSaver
from autobot.config.schema import TelegramConfig
from autobot.runtime import Actor

CHANNEL = "telegram"
CONNECTIONS = 8  # polling, sending, typing indicators and downloads of one bot


@attrs.frozen(kw_only=True)
class TelegramLauncher:
    """The Telegram `ChannelSpec.factory`."""

    config: TelegramConfig
    bot_dir: Path
    workspace: Path
    wall_clock: Callable[[], float]

    def __call__(self, env: ChannelEnv) -> Actor:
        return TelegramIncarnation(launcher=self, env=env)


@attrs.define(kw_only=True, eq=False)
class TelegramIncarnation:
    """One start of the Telegram channel: its resources and its actor."""

    launcher: TelegramLauncher
    env: ChannelEnv

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router:  # closed here too if the actor never starts
            await self._run(task_status)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        config = self.launcher.config
        try:
            if config.token is None:
                raise ValueError("channels.telegram.token is not set (TELEGRAM_BOT_TOKEN in .env)")
            policy = AccessPolicy.from_settings(
                CHANNEL,
                allow_from=config.allow_from,
                dm_policy=config.dm_policy,
                group_policy=config.group_policy,
                group_allow_from=config.group_allow_from,
            )
        except (ValueError, AccessConfigError) as exc:
            await drain_stopped(self.env, str(exc), task_status)
            return
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with (
            httpx.AsyncClient(limits=limits, follow_redirects=False, trust_env=False) as client,
            open_channel_gate(
                policy=policy,
                bot_dir=self.launcher.bot_dir,
                router=self.env.router,
                health=self.env.health,
                logger=self.env.logger,
                wall_clock=self.launcher.wall_clock,
            ) as gate,
        ):
            try:
                api = TelegramApi(client=client, api_base=config.api_base, token=config.token)
            except ValueError as exc:
                await drain_stopped(self.env, str(exc), task_status)
                return
            channel = TelegramChannel(
                env=self.env,
                config=config,
                api=api,
                gate=gate,
                save_media=InboxSaver(
                    api=api,
                    workspace=self.launcher.workspace,
                    logger=self.env.logger,
                    max_bytes=config.max_file_bytes,
                ),
                rng=self.env.rng,
            )
            await channel.run(task_status=task_status)
