"""Builds one WhatsApp channel incarnation per start (the `ChannelSpec.factory`).

`whatsapp_channel(config, loaded, wall_clock=...)` is what the composition
root calls, like `telegram_channel`. Each incarnation checks the settings
(allow lists that can never match, a bridge URL the channel refuses, an
unusable secret file: the channel is then stopped, not restarted, and says
why), opens the gate (inbound journal, pairing store) and runs the
`WhatsAppChannel` actor against the bridge:

- `bridge: external`: the operator's bridge at `bridge_url`, whose secret
  file must already exist;
- `bridge: managed`: the secret file is generated if missing, the bridge is
  installed into the bot directory (`bridge_install`: `npm ci` once per
  lockfile) and run from there as a child process (`bridge_process`):
  `<node> <bot_dir>/state/whatsapp-bridge/bridge.mjs --listen ...`. Tests
  pass `bridge_command` (e.g. `[sys.executable, "-m",
  "autobot.testing.fake_whatsapp_process"]`): that command runs instead of
  `node bridge.mjs`, with the same arguments, and nothing is installed.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
import trio

from autobot.channels.access import AccessConfigError
from autobot.channels.gate import open_channel_gate
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.channels.stopped import drain_stopped
from autobot.channels.whatsapp.actor import WhatsAppChannel
from autobot.channels.whatsapp.bridge_install import (
    BridgeInstaller,
    installed_bridge_dir,
    npm_command,
    shipped_bridge_dir,
)
from autobot.channels.whatsapp.bridge_process import (
    ManagedBridge,
    bridge_arguments,
    bridge_environment,
)
from autobot.channels.whatsapp.bridge_secret import BridgeSecretError, load_bridge_secret
from autobot.channels.whatsapp.client import connect_bridge
from autobot.channels.whatsapp.endpoint import (
    BridgeEndpoint,
    EndpointError,
    UnixEndpoint,
    bridge_endpoint,
)
from autobot.channels.whatsapp.jids import CHANNEL, whatsapp_policy
from autobot.config import LoadedConfig
from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.runtime import Actor

PID_FILE = "whatsapp-bridge.pid"


def whatsapp_channel(
    config: WhatsAppConfig,
    loaded: LoadedConfig,
    *,
    wall_clock: Callable[[], float],
    bridge_command: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ChannelSpec:
    """The WhatsApp channel of `loaded` (module docstring). `environ` is the
    gateway's environment (default: this process's), of which the managed
    bridge and npm get only a few named variables."""
    launcher = WhatsAppLauncher(
        config=config,
        bot_dir=loaded.bot_dir,
        workspace=loaded.workspace,
        wall_clock=wall_clock,
        bridge_command=None if bridge_command is None else tuple(bridge_command),
        environ=dict(os.environ if environ is None else environ),
    )
    return ChannelSpec(name=CHANNEL, factory=launcher)


@attrs.frozen(kw_only=True)
class WhatsAppLauncher:
    """The WhatsApp `ChannelSpec.factory`."""

    config: WhatsAppConfig
    bot_dir: Path
    workspace: Path
    wall_clock: Callable[[], float]
    bridge_command: tuple[str, ...] | None = None
    environ: Mapping[str, str] = attrs.field(factory=dict)

    def __call__(self, env: ChannelEnv) -> Actor:
        return WhatsAppIncarnation(launcher=self, env=env)

    @property
    def managed(self) -> bool:
        return self.config.bridge is BridgeMode.MANAGED

    @property
    def secret_file(self) -> Path:
        return self.bot_dir / self.config.bridge_secret_file


@attrs.define(kw_only=True, eq=False)
class WhatsAppIncarnation:
    """One start of the WhatsApp channel: its settings checked, its resources, its actor."""

    launcher: WhatsAppLauncher
    env: ChannelEnv
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self.env.outbox, self.env.router:  # closed here too if the actor never starts
            await self._run(task_status)

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        launcher = self.launcher
        try:
            policy = whatsapp_policy(launcher.config)
            endpoint = bridge_endpoint(launcher.config, launcher.bot_dir)
            key = await trio.to_thread.run_sync(
                functools.partial(
                    load_bridge_secret, launcher.secret_file, create=launcher.managed
                ),
                limiter=self.limiter,
            )
            ssl_context = await self._ssl_context(endpoint)
        except (AccessConfigError, EndpointError, BridgeSecretError, OSError, ssl.SSLError) as exc:
            await drain_stopped(self.env, str(exc), task_status)
            return
        async with open_channel_gate(
            policy=policy,
            bot_dir=launcher.bot_dir,
            router=self.env.router,
            health=self.env.health,
            logger=self.env.logger,
            wall_clock=launcher.wall_clock,
        ) as gate:
            channel = WhatsAppChannel(
                env=self.env,
                gate=gate,
                connect=functools.partial(
                    connect_bridge, endpoint=endpoint, key=key, ssl_context=ssl_context
                ),
                bridge=self._managed_bridge(endpoint) if launcher.managed else None,
                rng=self.env.rng,
            )
            await channel.run(task_status=task_status)

    async def _ssl_context(self, endpoint: BridgeEndpoint) -> ssl.SSLContext | None:
        """For a wss:// bridge: the system CAs, or only `bridge_ca_file`."""
        if isinstance(endpoint, UnixEndpoint) or not endpoint.tls:
            return None
        ca_file = self.launcher.config.bridge_ca_file
        cafile = None if ca_file is None else str(self.launcher.bot_dir / ca_file)
        return await trio.to_thread.run_sync(
            functools.partial(ssl.create_default_context, cafile=cafile), limiter=self.limiter
        )

    def _managed_bridge(self, endpoint: BridgeEndpoint) -> ManagedBridge:
        launcher = self.launcher
        arguments = bridge_arguments(
            listen=endpoint.listen,
            secret_file=launcher.secret_file,
            bot_dir=launcher.bot_dir,
            workspace=launcher.workspace,
            max_file_bytes=launcher.config.max_file_bytes,
        )
        installer: BridgeInstaller | None = None
        if launcher.bridge_command is None:
            installer = BridgeInstaller(
                package=shipped_bridge_dir(),
                target=installed_bridge_dir(launcher.bot_dir),
                npm=npm_command(launcher.config.node),
                environ=launcher.environ,
            )
            command: tuple[str, ...] = (launcher.config.node, str(installer.entry_point))
        else:
            command = launcher.bridge_command
        return ManagedBridge(
            argv=(*command, *arguments),
            environ=bridge_environment(launcher.environ),
            pid_file=launcher.bot_dir / "state" / PID_FILE,
            logger=self.env.logger.child("bridge"),
            rng=self.env.rng,
            prepare=None if installer is None else installer.install,
        )
