"""How the composition root is told about a channel: `ChannelSpec` and `ChannelEnv`.

Every enabled channel has an outbound mailbox owned by the composition root
(so it survives restarts of the channel actor and of the channel
supervisor). A chat channel also has a `factory` that builds a fresh actor
per incarnation from a `ChannelEnv`; the actor runs under the channel
supervisor. A channel without a factory (the terminal of `autobot agent`)
is driven by its command, which reads the same kind of mailbox through
`Gateway.channel_outbox`.
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
from autobot.runtime import Actor


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
    """An enabled channel: its name, for a supervised chat channel its actor
    factory, and the webhook paths it serves through the HTTP actor."""

    name: str
    factory: Callable[[ChannelEnv], Actor] | None = None
    webhooks: Mapping[str, WebhookHandler] = attrs.field(factory=dict)
