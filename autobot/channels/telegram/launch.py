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
import trio

from autobot.channels.access import AccessConfigError, AccessPolicy
from autobot.channels.launching import open_client_and_gate
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.channels.stopped import drain_stopped
from autobot.channels.telegram.actor import TelegramChannel
from autobot.channels.telegram.api import TelegramApi
from autobot.channels.telegram.inbox import InboxSaver
from autobot.channels.transcribe import transcriber_for
from autobot.channels.webhook import WEBHOOK_MAILBOX_SIZE, WebhookEndpoint, load_or_create_secret
from autobot.config import LoadedConfig
from autobot.config.schema import TelegramConfig, TelegramMode
from autobot.http.webhooks import WebhookHandler
from autobot.runtime import Actor, Mailbox

CHANNEL = "telegram"
CONNECTIONS = 8  # polling, sending, typing indicators and downloads of one bot


SECRET_HEADER = "x-telegram-bot-api-secret-token"


def telegram_channel(
    config: TelegramConfig, loaded: LoadedConfig, *, wall_clock: Callable[[], float]
) -> ChannelSpec:
    """The Telegram channel of `loaded`: polling, or in webhook mode a route on
    the HTTP actor whose secret is kept 0600 in `state/telegram-webhook-secret`
    (generated once). Raises OSError when that file cannot be used."""
    webhook: Mailbox | None = None
    secret: str | None = None
    routes: dict[str, WebhookHandler] = {}
    if config.mode is TelegramMode.WEBHOOK:
        secret = load_or_create_secret(loaded.bot_dir / "state" / "telegram-webhook-secret")
        webhook = Mailbox("telegram-webhook", WEBHOOK_MAILBOX_SIZE)
        routes[config.webhook_path] = WebhookEndpoint(
            secret=secret, header=SECRET_HEADER, deliveries=webhook.sender()
        )
    launcher = TelegramLauncher(
        config=config,
        bot_dir=loaded.bot_dir,
        workspace=loaded.workspace,
        wall_clock=wall_clock,
        webhook=webhook,
        webhook_secret=secret,
    )
    return ChannelSpec(name=CHANNEL, factory=launcher, webhooks=routes)


@attrs.frozen(kw_only=True)
class TelegramLauncher:
    """The Telegram `ChannelSpec.factory`; `webhook` (webhook mode) is the
    mailbox the HTTP endpoint fills, owned here so it survives restarts."""

    config: TelegramConfig
    bot_dir: Path
    workspace: Path
    wall_clock: Callable[[], float]
    webhook: Mailbox | None = None
    webhook_secret: str | None = None

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
        async with open_client_and_gate(
            self.env,
            policy=policy,
            bot_dir=self.launcher.bot_dir,
            wall_clock=self.launcher.wall_clock,
            connections=CONNECTIONS,
        ) as (client, gate):
            try:
                api = TelegramApi(client=client, api_base=config.api_base, token=config.token)
                transcribe = transcriber_for(config.transcription, client)
            except ValueError as exc:
                await drain_stopped(self.env, str(exc), task_status)
                return
            channel = TelegramChannel(
                env=self.env,
                config=config,
                api=api,
                gate=gate,
                webhook=None if self.launcher.webhook is None else self.launcher.webhook.inbox(),
                webhook_secret=self.launcher.webhook_secret,
                save_media=InboxSaver(
                    api=api,
                    workspace=self.launcher.workspace,
                    logger=self.env.logger,
                    max_bytes=config.max_file_bytes,
                    transcribe=transcribe,
                ),
                workspace=self.launcher.workspace,
                rng=self.env.rng,
            )
            await channel.run(task_status=task_status)
