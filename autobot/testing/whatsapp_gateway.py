"""A bot's gateway with the WhatsApp channel, as a process (for the `kill -9` tests).

    python -m autobot.testing.whatsapp_gateway --config BOT/config.yml \\
        [--bridge-command 'python -m autobot.testing.fake_whatsapp_bridge']

The real tree (`build_gateway`) with `whatsapp_channel` as its channel, until
SIGTERM or SIGINT asks for a graceful stop (exit 0). `--bridge-command`
replaces `node bridge.mjs` for a managed bridge. This is the composition
`autobot gateway` makes once the WhatsApp channel is wired into
`autobot.app.chat_channels`; until then the crash tests start it here.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import trio

from autobot.app import build_gateway
from autobot.channels.whatsapp.launch import whatsapp_channel
from autobot.config import load_config


async def serve(config_path: Path, bridge_command: list[str] | None) -> None:
    """Run the gateway of `config_path` until the first SIGTERM or SIGINT."""
    loaded = load_config(config_path, os.environ)
    channel = whatsapp_channel(
        loaded.config.channels.whatsapp,
        loaded,
        wall_clock=time.time,
        bridge_command=bridge_command,
    )
    gateway = build_gateway(loaded, echo=sys.stderr, channels=[channel])
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

        async def stop_on_signal() -> None:
            async for _ in signals:
                gateway.stop()
                return

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_on_signal)
            await gateway.run()
            nursery.cancel_scope.cancel("gateway stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="whatsapp_gateway")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--bridge-command")
    arguments = parser.parse_args(argv)
    command = None if arguments.bridge_command is None else shlex.split(arguments.bridge_command)
    trio.run(serve, arguments.config, command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
