"""Slack files and the workspace: inbound files into `workspace/inbox/`,
outbound attachments out of the workspace.

Inbound (`SlackInbox`, the channel's `save_files`): each file of an allowed
message (at most `events.MAX_FILES`) is downloaded with the bot token
(`SlackApi.download`: its `url_private_download`, redirects only to Slack
hosts, at most `max_bytes`) and stored under a generated name,
`slack-<channel>-<ts>-<n>.<ext>` (`inbox_files.store_in_inbox`: created
exclusively, 0600, through `Workspace`), the extension from the allowlist
by the file's name, then its MIME type, else `bin`. Nothing the sender chose
reaches the file system. A file that cannot be saved (too large, refused,
Slack unreachable, an unusable inbox) is left out with a WARN naming it and
why, and the model is told in the message text: the message itself is
never held back or lost for a file.

Outbound (`send_files`): the workspace files a reply attaches, read through
`Workspace` (no dotenv name, no symlink, regular files only, nothing outside
the workspace, at most `MAX_OUTBOUND_BYTES`), uploaded with
files.getUploadURLExternal + files.completeUploadExternal into the reply's
channel and thread, one at a time. An upload is tried once (one cut short
may have arrived; a retry would share it twice), except that a rate limit
is waited out up to `RATE_LIMIT_WAITS` times. A file that cannot be sent is
named to the chat and in a WARN, never fatal.
"""

from __future__ import annotations

import functools
from pathlib import Path, PurePosixPath

import attrs
import trio

from autobot.channels.base import Attachment, AttachmentKind, OutboundMessage
from autobot.channels.inbox_files import clean_mime, extension_from, store_in_inbox
from autobot.channels.outbound_files import read_outbound, refusal_words
from autobot.channels.slack.api import SlackApi
from autobot.channels.slack.errors import AuthFailed, RateLimited, SlackError
from autobot.channels.slack.events import SlackEvent, SlackFile
from autobot.channels.slack.mrkdwn import escape
from autobot.logs.records import Logger
from autobot.platform.workspace_fs import WorkspacePathError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MAX_OUTBOUND_BYTES = 50 * 1024 * 1024  # one file in memory at a time
RATE_LIMIT_WAITS = 3
RETRY_AFTER_CAP = 60.0  # seconds: a longer wait is not worth holding the channel's sends
_KINDS = {
    "image": AttachmentKind.PHOTO,
    "audio": AttachmentKind.AUDIO,
    "video": AttachmentKind.VIDEO,
}


def attachment_kind(mimetype: str | None) -> AttachmentKind:
    """PHOTO, AUDIO or VIDEO by the MIME type's family, else DOCUMENT."""
    family = (mimetype or "").partition("/")[0]
    return _KINDS.get(family, AttachmentKind.DOCUMENT)


def inbox_name(event: SlackEvent, index: int, file: SlackFile, number: int = 1) -> str:
    """`slack-<channel>-<ts>-<index>.<ext>`, `-<number>` before the extension
    for the numbered alternatives (2 and up). Channel ids and ts are already
    plain (upper-case letters and digits; digits and one dot)."""
    counter = "" if number == 1 else f"-{number}"
    extension = extension_from(file.name, file.mimetype) or "bin"
    ts = event.ts.replace(".", "-")
    return f"slack-{event.channel}-{ts}-{index}{counter}.{extension}"


@attrs.define(kw_only=True)
class SlackInbox:
    """Downloads an event's files into the workspace inbox (see the module docstring).

    Calling it returns the attachments saved and the names of the files left
    out (for the message text). Raises `AuthFailed` (the token was revoked:
    the channel stops); every other failure leaves the file out.
    """

    api: SlackApi
    workspace: Path
    logger: Logger
    max_bytes: int = attrs.field(default=DEFAULT_MAX_BYTES, validator=attrs.validators.gt(0))
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def __call__(self, event: SlackEvent) -> tuple[tuple[Attachment, ...], tuple[str, ...]]:
        saved: list[Attachment] = []
        missed: list[str] = []
        for index, file in enumerate(event.files, start=1):
            try:
                saved.append(await self._save(event, index, file))
            except AuthFailed:
                raise
            except (SlackError, WorkspacePathError) as exc:
                self.logger.warn(
                    "slack file not saved",
                    channel=event.channel,
                    ts=event.ts,
                    file_id=file.id,
                    max_bytes=self.max_bytes,
                    reason=str(exc),
                )
                missed.append(file.name or file.id)
        return tuple(saved), tuple(missed)

    async def _save(self, event: SlackEvent, index: int, file: SlackFile) -> Attachment:
        if file.size is not None and file.size > self.max_bytes:
            raise SlackError(
                "file_too_large",
                method="download",
                detail=f"the file is {file.size} bytes, more than {self.max_bytes}",
            )
        data = await self.api.download(file.url, max_bytes=self.max_bytes)
        store = functools.partial(
            store_in_inbox, self.workspace, functools.partial(inbox_name, event, index, file), data
        )
        relative = await trio.to_thread.run_sync(store, limiter=self.limiter)
        return Attachment(
            kind=attachment_kind(file.mimetype),
            path=relative,
            mime_type=clean_mime(file.mimetype) or "application/octet-stream",
            size=len(data),
        )


async def send_files(
    api: SlackApi,
    message: OutboundMessage,
    workspace: Path,
    *,
    thread_ts: str | None,
    logger: Logger,
    limiter: trio.CapacityLimiter,
) -> tuple[str, ...]:
    """Upload `message.attachments` into its channel and `thread_ts` (see the
    module docstring); the paths not sent. Raises `AuthFailed` only."""
    not_sent: list[str] = []
    for attachment in message.attachments:
        reason = await _send_one(api, message, workspace, attachment, thread_ts, limiter)
        if reason is None:
            continue
        not_sent.append(attachment.path)
        logger.warn(
            "slack attachment not sent",
            chat_id=message.chat_id,
            path=attachment.path,
            reason=reason,
        )
        try:
            await api.post_message(
                message.chat_id,
                escape(f"(I could not send the file {attachment.path}: {reason}.)"),
                thread_ts=thread_ts,
            )
        except AuthFailed:
            raise
        except (SlackError, ValueError):
            pass  # best effort: the WARN record stands for it
    return tuple(not_sent)


async def _send_one(
    api: SlackApi,
    message: OutboundMessage,
    workspace: Path,
    attachment: Attachment,
    thread_ts: str | None,
    limiter: trio.CapacityLimiter,
) -> str | None:
    """Upload one file; None when sent, else why not (words for the user)."""
    read = functools.partial(read_outbound, workspace, attachment.path, MAX_OUTBOUND_BYTES)
    filename = PurePosixPath(attachment.path).name
    try:
        data = await trio.to_thread.run_sync(read, limiter=limiter)
    except WorkspacePathError as exc:
        return refusal_words(exc.refusal, max_bytes=MAX_OUTBOUND_BYTES) or "it cannot be read"
    if not data:
        return "it is empty"
    for _ in range(RATE_LIMIT_WAITS + 1):
        try:
            await api.upload_file(message.chat_id, filename, data, thread_ts=thread_ts)
            return None
        except RateLimited as exc:
            if exc.retry_after is None or exc.retry_after > RETRY_AFTER_CAP:
                return f"Slack refused it: {exc.error}"
            await trio.sleep(exc.retry_after)
        except AuthFailed:
            raise
        except SlackError as exc:
            return f"Slack refused it: {exc.error}"
        except ValueError as exc:  # a name Slack cannot carry (quotes, controls)
            return f"it cannot be uploaded: {exc}"
    return "Slack kept asking to wait"
