"""The `message {content, channel?, chat_id?}` tool: send a chat message now.

Messages go to the outbound mailbox of the channel actors, never to a network
directly. By default only the current conversation may be addressed; naming
another channel or chat is refused with an ACCESS DENIED record unless the
tool was built with `allow_other_chats=True` (the owner's
`tools.message.allow_other_chats`). The refusal tells the model plainly that
this is a setting, not a transient failure, so it does not retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from autobot.channels.base import OutboundMessage
from autobot.channels.outbound import OutboundSink, UnknownChannel
from autobot.tools.base import ToolContext, ToolResult, access_denied

MESSAGE_PARAMETERS: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "minLength": 1, "maxLength": 20000},
        "channel": {"type": "string", "description": "Defaults to this conversation's."},
        "chat_id": {"type": "string", "description": "Defaults to this conversation's."},
    },
    "required": ["content"],
    "additionalProperties": False,
}


@attrs.frozen(kw_only=True)
class MessageTool:
    """Sends `content` to the current conversation (or, if allowed, another one)."""

    outbound: OutboundSink
    allow_other_chats: bool = False
    name: str = "message"
    description: str = (
        "Send a message to the user right away (e.g. progress on a long task). "
        "Your final answer is sent automatically; do not repeat it here."
    )
    parameters: Mapping[str, Any] = MESSAGE_PARAMETERS

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        channel = args.get("channel", ctx.channel)
        chat_id = args.get("chat_id", ctx.chat_id)
        if (channel, chat_id) != (ctx.channel, ctx.chat_id) and not self.allow_other_chats:
            return access_denied(
                ctx,
                self.name,
                f"Not sent: this bot may only message the current conversation "
                f"({ctx.channel}:{ctx.chat_id}), not {channel}:{chat_id}. Messaging other "
                f"chats is disabled by the owner (tools.message.allow_other_chats); do not "
                f"retry. Omit channel and chat_id to write to this conversation.",
            )
        try:
            await self.outbound.send(
                OutboundMessage(channel=channel, chat_id=chat_id, content=args["content"])
            )
        except UnknownChannel:
            return ToolResult.error(
                f"Not sent: channel '{channel}' is not enabled in this bot. Enabled "
                f"conversations are reached without naming a channel."
            )
        return ToolResult.ok(f"Message sent to {channel}:{chat_id}.")
