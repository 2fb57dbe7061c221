"""What every HTTP chat channel's incarnation opens before its actor runs.

`open_client_and_gate` gives one incarnation its HTTP client (at most
`connections` connections, no redirects followed, no proxy settings from the
environment) and its `ChannelGate` (access, inbound journal, router), and
closes both when the incarnation ends, whatever happens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from autobot.channels.access import AccessPolicy
from autobot.channels.gate import ChannelGate, open_channel_gate
from autobot.channels.spec import ChannelEnv


@asynccontextmanager
async def open_client_and_gate(
    env: ChannelEnv,
    *,
    policy: AccessPolicy,
    bot_dir: Path,
    wall_clock: Callable[[], float],
    connections: int,
) -> AsyncIterator[tuple[httpx.AsyncClient, ChannelGate]]:
    """The incarnation's HTTP client and channel gate (see the module docstring)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with (
        httpx.AsyncClient(limits=limits, follow_redirects=False, trust_env=False) as client,
        open_channel_gate(
            policy=policy,
            bot_dir=bot_dir,
            router=env.router,
            health=env.health,
            logger=env.logger,
            wall_clock=wall_clock,
        ) as gate,
    ):
        yield client, gate
