"""A chat channel that cannot work until the operator changes something.

`drain_stopped` is what a channel incarnation does once it knows it cannot
work (a rejected token, a setting that can never work): it says why in the
log and in `/healthz`, and drains its mailbox so no sender ever blocks on it.
"""

from __future__ import annotations

import trio
from trio_util import move_on_when

from autobot.channels.spec import ChannelEnv


async def drain_stopped(env: ChannelEnv, reason: str, task_status: trio.TaskStatus[None]) -> None:
    """A channel that cannot work (`reason`): marked stopped, logged once, and
    its mailbox drained (each reply dropped with a WARN) so no sender ever
    blocks on it, until the gateway stops (it returns as soon as asked to:
    there is nothing to finish)."""
    with env.outbox, env.router:
        env.health.mark_stopped(trio.current_time(), reason)
        env.logger.error(f"{env.name} channel stopped: {reason}")
        task_status.started()
        async with move_on_when(env.stopping.wait):
            async for message in env.outbox:
                env.health.send_failures += 1
                env.logger.warn(
                    f"{env.name} reply dropped: the channel is stopped", chat_id=message.chat_id
                )
