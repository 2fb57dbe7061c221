"""The `message {content, attachments?, channel?, chat_id?}` tool: send a chat message now.

Messages go to the outbound mailbox of the channel actors, never to a network
directly. By default only the current conversation may be addressed; naming
another channel or chat is refused with an ACCESS DENIED record unless the
tool was built with `allow_other_chats=True` (the owner's
`tools.message.allow_other_chats`). The refusal tells the model plainly that
this is a setting, not a transient failure, so it does not retry.

`attachments` are workspace files sent with the message (at most
`MAX_ATTACHMENTS`; a channel sends pictures as photos, the rest as
documents). Each path is checked on the host before anything is sent, in a
worker thread (`limiter`): a dotenv name, a path leaving the workspace, or a
path that is or passes through a symlink is refused with ACCESS DENIED
(`sandbox.mapping.workspace_file_relpath`); a missing, empty, special or
over-`MAX_ATTACHMENT_BYTES` file is a plain error. Nothing is sent unless
every attachment passes. The channel reads each file again when it sends
it, without following links, so a file swapped after this check is still
refused there.
"""

from __future__ import annotations

import functools
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import trio

from autobot.channels.base import Attachment, AttachmentKind, OutboundMessage
from autobot.channels.outbound import OutboundSink, UnknownChannel
from autobot.platform.workspace_fs import Refusal, Workspace, WorkspacePathError
from autobot.sandbox.mapping import PathRefused, workspace_file_relpath
from autobot.tools.base import ToolContext, ToolResult, access_denied

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024  # the largest upload a chat network here takes
# Pictures a channel may show inline; anything else travels as a document.
PICTURE_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
}
# Refusals of the workspace walk that are about the boundary (ACCESS DENIED).
_BOUNDARY = frozenset({Refusal.DOTENV, Refusal.SYMLINK, Refusal.OUTSIDE, Refusal.INVALID})

MESSAGE_PARAMETERS: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "minLength": 1, "maxLength": 20000},
        "attachments": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 4096},
            "description": (
                f"Workspace files to send with the message (at most {MAX_ATTACHMENTS}, "
                "each up to 50 MB); pictures are shown as photos."
            ),
        },
        "channel": {"type": "string", "description": "Defaults to this conversation's."},
        "chat_id": {"type": "string", "description": "Defaults to this conversation's."},
    },
    "required": ["content"],
    "additionalProperties": False,
}


class AttachmentRefused(Exception):
    """A workspace file that cannot be attached; the message is for the model.
    `boundary` marks a refusal at the workspace boundary (ACCESS DENIED)."""

    def __init__(self, message: str, *, boundary: bool) -> None:
        super().__init__(message)
        self.boundary = boundary


def checked_attachments(workspace: Path, paths: Sequence[str]) -> tuple[Attachment, ...]:
    """The attachments `paths` name, each checked (blocking; see the module
    docstring). Raises `AttachmentRefused` for the first one refused."""
    relatives = []
    for path in paths:
        try:
            relatives.append(workspace_file_relpath(workspace, path))
        except PathRefused as exc:
            raise AttachmentRefused(str(exc), boundary=True) from None
    with Workspace.open(workspace) as opened:
        return tuple(_attachment(opened, relative) for relative in relatives)


def _attachment(workspace: Workspace, relative: str) -> Attachment:
    try:
        info = workspace.stat(relative)
    except WorkspacePathError as exc:
        if exc.refusal is Refusal.MISSING:
            raise AttachmentRefused(f"{relative} does not exist", boundary=False) from None
        raise AttachmentRefused(str(exc), boundary=exc.refusal in _BOUNDARY) from None
    if not stat.S_ISREG(info.st_mode):
        raise AttachmentRefused(f"{relative} is not a regular file", boundary=False)
    if not 0 < info.st_size <= MAX_ATTACHMENT_BYTES:
        raise AttachmentRefused(
            f"{relative} is {info.st_size} bytes; an attachment holds 1 to "
            f"{MAX_ATTACHMENT_BYTES} bytes",
            boundary=False,
        )
    extension = PurePosixPath(relative).suffix.lower().removeprefix(".")
    picture = PICTURE_TYPES.get(extension)
    return Attachment(
        kind=AttachmentKind.DOCUMENT if picture is None else AttachmentKind.PHOTO,
        path=relative,
        mime_type=picture or "",
        size=info.st_size,
    )


@attrs.frozen(kw_only=True)
class MessageTool:
    """Sends `content` (and workspace files) to the current conversation (or,
    if allowed, another one). `limiter` bounds the threads checking attachments."""

    outbound: OutboundSink
    allow_other_chats: bool = False
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    name: str = "message"
    description: str = (
        "Send a message to the user right away (e.g. progress on a long task), "
        "optionally with workspace files attached. Your final answer is sent "
        "automatically; do not repeat it here."
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
        paths = args.get("attachments", [])
        if len(paths) > MAX_ATTACHMENTS:
            return ToolResult.error(
                f"Not sent: {len(paths)} attachments; at most {MAX_ATTACHMENTS} per message."
            )
        attachments: tuple[Attachment, ...] = ()
        if paths:
            check = functools.partial(checked_attachments, ctx.workspace, paths)
            try:
                attachments = await trio.to_thread.run_sync(check, limiter=self.limiter)
            except AttachmentRefused as exc:
                if exc.boundary:
                    return access_denied(ctx, self.name, f"Not sent: {exc}")
                return ToolResult.error(f"Not sent: {exc}")
        try:
            await self.outbound.send(
                OutboundMessage(
                    channel=channel,
                    chat_id=chat_id,
                    content=args["content"],
                    attachments=attachments,
                )
            )
        except UnknownChannel:
            return ToolResult.error(
                f"Not sent: channel '{channel}' is not enabled in this bot. Enabled "
                f"conversations are reached without naming a channel."
            )
        files = ", ".join(attachment.path for attachment in attachments)
        return ToolResult.ok(
            f"Message sent to {channel}:{chat_id}" + (f" with {files}." if files else ".")
        )
