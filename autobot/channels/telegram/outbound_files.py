"""Workspace files a message carries, sent to its Telegram chat after its text.

`send_attachments(api, message, workspace, logger=...)` sends each of
`message.attachments` in order, one at a time (at most one file in memory):
read through `read_attachment` in a worker thread (check and use in one step:
no dotenv name, no symlink anywhere on the way, only a regular file, nothing
outside the workspace, at most 50 MB, whatever the `message` tool saw when
it checked the path), then uploaded with sendPhoto (a picture of at most
10 MB, by extension) or sendDocument, in the message's forum topic.

A file that cannot be sent is skipped, never fatal: the chat is told which
file did not come and why (in words that name no host path), a WARN record
says the same, and the result lists it. An upload is tried once: one cut
by a timeout may well have arrived, and a retry would send the file twice;
only a 429 is waited out (its `retry_after`, capped, at most
`RATE_LIMIT_WAITS` times), since Telegram refused that one without taking it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import attrs
import trio

from autobot.channels.base import Attachment, OutboundMessage
from autobot.channels.outbound_files import refusal_words
from autobot.channels.telegram.api import MAX_UPLOAD_BYTES, RateLimited, TelegramApi, TelegramError
from autobot.channels.telegram.inbox import OutboundFile, read_attachment
from autobot.logs.records import Logger
from autobot.platform.workspace_fs import WorkspacePathError

RATE_LIMIT_WAITS = 3
RETRY_AFTER_CAP = 60.0  # seconds: a longer wait is not worth holding the channel's sends
# One file read at a time: a 50 MB read is bounded in memory and never
# starves the event loop's other thread work.
FILE_READS = trio.CapacityLimiter(1)


@attrs.frozen(kw_only=True)
class NotSent:
    """An attachment that did not reach the chat, and why (words for the user)."""

    path: str
    reason: str


async def send_attachments(
    api: TelegramApi, message: OutboundMessage, workspace: Path, *, logger: Logger
) -> tuple[NotSent, ...]:
    """Send `message.attachments` to its chat (see the module docstring);
    returns the ones not sent. Raises nothing for a file or an upload that
    failed; cancellation propagates."""
    not_sent: list[NotSent] = []
    for attachment in message.attachments:
        reason = await _send_one(api, message, workspace, attachment)
        if reason is None:
            continue
        failure = NotSent(path=attachment.path, reason=reason)
        not_sent.append(failure)
        logger.warn(
            "telegram attachment not sent",
            chat_id=message.chat_id,
            path=failure.path,
            reason=failure.reason,
        )
        await _tell_chat(api, message, failure)
    return tuple(not_sent)


async def _send_one(
    api: TelegramApi, message: OutboundMessage, workspace: Path, attachment: Attachment
) -> str | None:
    """Upload one file; None when sent, else why not."""
    read = functools.partial(read_attachment, workspace, attachment.path, MAX_UPLOAD_BYTES)
    try:
        outbound = await trio.to_thread.run_sync(read, limiter=FILE_READS)
    except WorkspacePathError as exc:
        return refusal_words(exc.refusal, max_bytes=MAX_UPLOAD_BYTES) or exc.detail
    if not outbound.data:
        return "it is empty"
    for _ in range(RATE_LIMIT_WAITS + 1):
        try:
            await _upload(api, message, outbound)
            return None
        except RateLimited as exc:
            if not exc.retry_after or exc.retry_after > RETRY_AFTER_CAP:
                return f"Telegram refused it: {exc}"
            await trio.sleep(float(exc.retry_after))
        except TelegramError as exc:
            return f"Telegram refused it: {exc}"
        except ValueError as exc:  # a name the Bot API cannot carry (quotes, controls)
            return f"it cannot be uploaded: {exc}"
    return "Telegram kept asking to wait"


async def _upload(api: TelegramApi, message: OutboundMessage, outbound: OutboundFile) -> None:
    thread = _thread_id(message)
    if outbound.method == "sendPhoto":
        await api.send_photo(message.chat_id, outbound.filename, outbound.data, thread_id=thread)
    else:
        await api.send_document(message.chat_id, outbound.filename, outbound.data, thread_id=thread)


async def _tell_chat(api: TelegramApi, message: OutboundMessage, failure: NotSent) -> None:
    """Best effort: the user learns a file did not come (the WARN is already written)."""
    text = f"(I could not send the file {failure.path}: {failure.reason}.)"
    try:
        await api.send_message(message.chat_id, text, thread_id=_thread_id(message))
    except TelegramError:
        pass  # the chat is unreachable: the WARN record stands for it


def _thread_id(message: OutboundMessage) -> int | None:
    thread = message.thread_id
    return int(thread) if thread is not None and thread.lstrip("-").isdigit() else None
