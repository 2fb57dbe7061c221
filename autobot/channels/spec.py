"""How the composition root is told about a channel: `ChannelSpec` and `ChannelEnv`.

Every enabled channel has an outbound mailbox owned by the composition root
(so it survives restarts of the channel actor and of the channel
supervisor), and a `factory` that builds a fresh actor per incarnation from
a `ChannelEnv`; the actor runs under the channel supervisor, restarted as
`restart` says: a chat channel is permanent, the terminal of `autobot
agent` temporary (it ends with its conversation).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

import attrs
import trio

from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelHealth
from autobot.http.webhooks import WebhookHandler
from autobot.logs.records import Logger
from autobot.runtime import Actor, Restart


@attrs.frozen(kw_only=True)
class ChannelEnv:
    """What one incarnation of a channel actor receives.

    `outbox` (replies to deliver) and `router` (a sender into the session
    router) are this incarnation's own clones: the actor closes both when it
    ends. `stopping` is set when it should finish gracefully.
    """

    name: str
    outbox: trio.MemoryReceiveChannel[OutboundMessage]
    router: trio.MemorySendChannel[InboundMessage]
    health: ChannelHealth
    logger: Logger
    stopping: trio.Event
    rng: random.Random


@attrs.frozen(kw_only=True)
class ChannelSpec:
    """An enabled channel: its name, its actor factory, when the channel
    supervisor starts it again (`restart`), and the webhook paths it serves
    through the HTTP actor."""

    name: str
    factory: Callable[[ChannelEnv], Actor]
    restart: Restart = Restart.PERMANENT
    webhooks: Mapping[str, WebhookHandler] = attrs.field(factory=dict)
