"""The real gateway with the Zulip channel, as a process of its own (the kill -9 tests).

python gateway_worker.py CONFIG

Loads the bot's config (its `.env` included), builds the gateway tree with
the Zulip channel (what `autobot gateway` will run once the composition
root knows Zulip) and runs it, log lines on stderr, until SIGTERM asks for
a graceful stop (exit 0).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import trio

from autobot.app import build_gateway
from autobot.channels.zulip.launch import zulip_channel
from autobot.config import load_config


async def serve(config_path: Path) -> None:
    loaded = load_config(config_path, os.environ)
    channel = zulip_channel(loaded.config.channels.zulip, loaded, wall_clock=time.time)
    gateway = build_gateway(loaded, echo=sys.stderr, channels=[channel])
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            async for _ in signals:
                gateway.stop()
                break


if __name__ == "__main__":
    trio.run(serve, Path(sys.argv[1]))
