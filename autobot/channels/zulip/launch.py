"""Builds one Zulip channel incarnation per start (the `ChannelSpec.factory`).

`ZulipLauncher` holds what every incarnation shares (the config, the bot
directory, the workspace, the wall clock); each call builds a
`ZulipIncarnation`, whose `run` opens that incarnation's resources (an HTTP
client, the inbound journal, the pairing store), runs the `ZulipChannel`
actor and closes them, whatever happens. A channel that cannot work as
configured (no site, email or API key, a site that is not https, allow-list
entries that can never match) is stopped, not restarted: it says why in
the log and in `/healthz`, and drains its mailbox so no sender blocks on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from autobot.channels.access import AccessConfigError
from autobot.channels.launching import open_client_and_gate
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.channels.stopped import drain_stopped
from autobot.channels.zulip.actor import ZulipChannel
from autobot.channels.zulip.api import ZulipApi
from autobot.channels.zulip.inbox import UploadSaver
from autobot.channels.zulip.outbound_files import FileUploader
from autobot.channels.zulip.queue import EventQueue, QueueFile
from autobot.channels.zulip.settings import CHANNEL, access_policy, stream_names
from autobot.config import LoadedConfig
from autobot.config.schema import ZulipConfig
from autobot.runtime import Actor

CONNECTIONS = 4  # the long poll, sending, downloads and uploads of one bot


def zulip_channel(
    config: ZulipConfig, loaded: LoadedConfig, *, wall_clock: Callable[[], float]
) -> ChannelSpec:
    """The Zulip channel of `loaded` (no webhook: Zulip is polled)."""
    launcher = ZulipLauncher(
        config=config, bot_dir=loaded.bot_dir, workspace=loaded.workspace, wall_clock=wall_clock
    )
    return ChannelSpec(name=CHANNEL, factory=launcher)


@attrs.frozen(kw_only=True)
class ZulipLauncher:
    """The Zulip `ChannelSpec.factory`."""

    config: ZulipConfig
    bot_dir: Path
    workspace: Path
    wall_clock: Callable[[], float]

    def __call__(self, env: ChannelEnv) -> Actor:
        return ZulipIncarnation(launcher=self, env=env)


@attrs.define(kw_only=True, eq=False)
class ZulipIncarnation:
    """One start of the Zulip channel: its resources and its actor."""

    launcher: ZulipLauncher
    env: ChannelEnv

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router:  # closed here too if the actor never starts
            await self._run(task_status)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        config = self.launcher.config
        try:
            missing = [
                f"channels.zulip.{name}"
                for name, value in (("site", config.site), ("email", config.email))
                if not value
            ]
            if config.api_key is None:
                missing.append("channels.zulip.api_key (ZULIP_API_KEY in .env)")
            if missing:
                raise ValueError(f"{', '.join(missing)} not set")
            policy = access_policy(config)
        except (ValueError, AccessConfigError) as exc:
            await drain_stopped(self.env, str(exc), task_status)
            return
        assert config.site is not None and config.email is not None and config.api_key is not None
        async with open_client_and_gate(
            self.env,
            policy=policy,
            bot_dir=self.launcher.bot_dir,
            wall_clock=self.launcher.wall_clock,
            connections=CONNECTIONS,
        ) as (client, gate):
            try:
                api = ZulipApi(
                    client=client, site=config.site, email=config.email, api_key=config.api_key
                )
            except ValueError as exc:
                await drain_stopped(self.env, str(exc), task_status)
                return
            channel = ZulipChannel(
                env=self.env,
                api=api,
                queue=EventQueue(
                    api=api,
                    file=QueueFile.in_bot(self.launcher.bot_dir),
                    logger=self.env.logger,
                    wall_clock=self.launcher.wall_clock,
                ),
                gate=gate,
                streams=stream_names(config),
                save_uploads=UploadSaver(
                    api=api,
                    workspace=self.launcher.workspace,
                    logger=self.env.logger,
                    max_bytes=config.max_file_bytes,
                ),
                upload_files=FileUploader(
                    api=api, workspace=self.launcher.workspace, logger=self.env.logger
                ),
                rng=self.env.rng,
            )
            await channel.run(task_status=task_status)
