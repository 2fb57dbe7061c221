"""Builds one Slack channel incarnation per start (the `ChannelSpec.factory`).

`SlackLauncher` holds what every incarnation shares (the config, the bot
directory, the workspace, the wall clock); each call builds a
`SlackIncarnation`, whose `run` opens that incarnation's resources (an HTTP
client, the inbound journal, the pairing store), runs the `SlackChannel`
actor and closes them, whatever happens. A channel that cannot work as
configured (a token missing or of the wrong kind, allow-list entries that
can never match, an unusable api_base) is stopped, not restarted: it says
why in the log and in `/healthz`, and drains its mailbox so no sender
blocks on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from autobot.channels.access import AccessConfigError, AccessPolicy
from autobot.channels.launching import open_client_and_gate
from autobot.channels.slack.actor import SlackChannel
from autobot.channels.slack.api import SlackApi
from autobot.channels.slack.files import SlackInbox
from autobot.channels.slack.tokens import APP_TOKEN_PREFIX, BOT_TOKEN_PREFIX, check_token
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.channels.stopped import drain_stopped
from autobot.config import LoadedConfig
from autobot.config.schema import SlackConfig
from autobot.runtime import Actor

CHANNEL = "slack"
CONNECTIONS = 8  # Web API calls, file downloads and uploads of one app


def slack_channel(
    config: SlackConfig, loaded: LoadedConfig, *, wall_clock: Callable[[], float]
) -> ChannelSpec:
    """The Slack channel of `loaded` (Socket Mode: no webhook route)."""
    launcher = SlackLauncher(
        config=config, bot_dir=loaded.bot_dir, workspace=loaded.workspace, wall_clock=wall_clock
    )
    return ChannelSpec(name=CHANNEL, factory=launcher)


@attrs.frozen(kw_only=True)
class SlackLauncher:
    """The Slack `ChannelSpec.factory`."""

    config: SlackConfig
    bot_dir: Path
    workspace: Path
    wall_clock: Callable[[], float]

    def __call__(self, env: ChannelEnv) -> Actor:
        return SlackIncarnation(launcher=self, env=env)


@attrs.define(kw_only=True, eq=False)
class SlackIncarnation:
    """One start of the Slack channel: its resources and its actor."""

    launcher: SlackLauncher
    env: ChannelEnv

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router:  # closed here too if the actor never starts
            await self._run(task_status)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        config = self.launcher.config
        try:
            check_token(config.bot_token, BOT_TOKEN_PREFIX, "channels.slack.bot_token")
            check_token(config.app_token, APP_TOKEN_PREFIX, "channels.slack.app_token")
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
                assert config.bot_token is not None
                api = SlackApi(
                    client=client,
                    api_base=config.api_base,
                    bot_token=config.bot_token,
                    app_token=config.app_token,
                )
            except ValueError as exc:
                await drain_stopped(self.env, f"channels.slack.{exc}", task_status)
                return
            channel = SlackChannel(
                env=self.env,
                api=api,
                gate=gate,
                save_files=SlackInbox(
                    api=api,
                    workspace=self.launcher.workspace,
                    logger=self.env.logger,
                    max_bytes=config.max_file_bytes,
                ),
                workspace=self.launcher.workspace,
                rng=self.env.rng,
            )
            await channel.run(task_status=task_status)
