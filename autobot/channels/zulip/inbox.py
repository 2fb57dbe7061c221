"""Zulip uploads into `workspace/inbox/`: the files an allowed message links to.

`UploadSaver` (the channel's `save_uploads`) fetches each `/user_uploads/`
link of a message (`events.upload_paths`: at most 5) with the bot's
credentials, at most `max_bytes` each, and stores it with
`inbox_files.store_in_inbox` under a generated name,
`zulip-<message id>-<n>.<ext>`, the extension from the link's file name when
it is on the shared allowlist (`inbox_files.extension_from`), else `bin`.
Nothing the sender chose reaches the file system, and what is already in
`inbox/` is never touched (see `inbox_files`). The link stays in the
message text either way; the model is told where each file was saved.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import attrs
import trio

from autobot.channels.base import Attachment, AttachmentKind
from autobot.channels.inbox_files import EXTENSIONS_BY_MIME, extension_from, store_in_inbox
from autobot.channels.zulip.api import BadRequest, FileTooLarge, ZulipApi
from autobot.channels.zulip.events import ZulipMessage
from autobot.logs.records import Logger
from autobot.platform.workspace_fs import WorkspacePathError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
PICTURES = frozenset({"jpg", "jpeg", "png", "webp", "gif"})
MIME_BY_EXTENSION = {extension: mime for mime, extension in EXTENSIONS_BY_MIME.items()}


def extension_for(path: str) -> str:
    """The stored file's extension: the upload's own, lower-cased, when it is
    on the allowlist; else `bin`."""
    name = urllib.parse.unquote(PurePosixPath(path).name)
    return extension_from(name, None) or "bin"


def inbox_name(message_id: int, index: int, path: str, number: int = 1) -> str:
    """`zulip-<message>-<index>.<ext>`, or with `-<number>` for the numbered
    alternatives (2 and up)."""
    counter = "" if number == 1 else f"-{number}"
    return f"zulip-{message_id}-{index}{counter}.{extension_for(path)}"


def store_upload(
    workspace_root: Path, *, message_id: int, index: int, path: str, data: bytes
) -> Attachment:
    """Store `data` as a new file in `inbox/` (blocking). Raises
    `WorkspacePathError` when `inbox/` is refused (a symlink, not a
    directory...) or every name is taken."""
    extension = extension_for(path)
    relative = store_in_inbox(
        workspace_root, functools.partial(inbox_name, message_id, index, path), data
    )
    return Attachment(
        kind=AttachmentKind.PHOTO if extension in PICTURES else AttachmentKind.DOCUMENT,
        path=relative,
        mime_type=MIME_BY_EXTENSION.get(extension, "application/octet-stream"),
        size=len(data),
    )


@attrs.define(kw_only=True)
class UploadSaver:
    """Fetches a message's uploads into the workspace inbox.

    `api` downloads, `workspace` is the workspace root, `max_bytes` the size
    cap, `limiter` bounds the threads that write. Calling it returns the
    message's attachments: one per upload saved. An upload refused for good
    (larger than the cap, gone or not visible to the bot, an unusable inbox)
    is left out with a WARN naming why. Every other failure propagates:
    transient ones (`is_transient`), so the batch is fetched again later,
    and revoked credentials (`Unauthorized`).
    """

    api: ZulipApi
    workspace: Path
    logger: Logger
    max_bytes: int = attrs.field(default=DEFAULT_MAX_BYTES, validator=attrs.validators.gt(0))
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def __call__(self, message: ZulipMessage) -> Sequence[Attachment]:
        saved: list[Attachment] = []
        for index, path in enumerate(message.uploads, start=1):
            try:
                data = await self.api.download(path, max_bytes=self.max_bytes)
                store = functools.partial(
                    store_upload,
                    self.workspace,
                    message_id=message.message_id,
                    index=index,
                    path=path,
                    data=data,
                )
                saved.append(await trio.to_thread.run_sync(store, limiter=self.limiter))
            except (FileTooLarge, BadRequest, WorkspacePathError) as exc:
                self.logger.warn(
                    "zulip upload not saved",
                    message_id=message.message_id,
                    upload=index,
                    max_bytes=self.max_bytes,
                    reason=str(exc),
                )
        return tuple(saved)
