"""Workspace files a reply attaches, uploaded to Zulip and linked after its text.

`FileUploader` (one per incarnation) takes the attachments of a reply (the
workspace-relative paths the `message` tool checked) and, one at a time
(at most one file in memory):

- reads the file through `Workspace` in a worker thread (`limiter`), check
  and use in one step: no dotenv name, no symlink anywhere on the way, only
  a regular file, nothing outside the workspace, at most the server's
  upload limit (`max_file_upload_size_mib`, capped at `MAX_OUTBOUND_BYTES`
  so one file in memory stays bounded); a larger file is never uploaded;
- uploads it (`ZulipApi.upload`, `POST /user_uploads`), which answers the
  `/user_uploads/...` path of its link, checked before it is ever linked.

An upload is tried once: one cut short by a timeout may well have been
stored, and a retry would store the file twice. Only a 429 is waited out
(its retry-after, at most `RETRY_AFTER_CAP`, at most `RATE_LIMIT_WAITS`
times), since Zulip refused that one without taking it. A file that cannot
be sent is left out with a WARN record naming it and why; nothing here
raises for a file (cancellation propagates).

What to send the chat is pure: `links_text` (one `[name](/user_uploads/...)`
line per file, the name shown literally: `render.markdown_literal`, so a
name cannot ping, break the link or add Markdown) and `not_sent_text` (one
short sentence per file left out, in words that name no host path).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol

import attrs
import trio

from autobot.channels.base import Attachment
from autobot.channels.outbound_files import MIB, read_outbound, refusal_words
from autobot.channels.utf16 import valid_utf16
from autobot.channels.zulip.api import RateLimited, ZulipApi, ZulipError, is_transient
from autobot.channels.zulip.render import markdown_literal
from autobot.logs.records import Logger
from autobot.platform.workspace_fs import WorkspacePathError

MAX_OUTBOUND_BYTES = 50 * MIB  # one file in memory at a time, whatever the server allows
RATE_LIMIT_WAITS = 3
RETRY_AFTER_CAP = 60.0  # seconds: a longer wait is not worth holding the channel's sends


@attrs.frozen(kw_only=True)
class Uploaded:
    """A file Zulip stored: the name to show and the path of its link."""

    name: str
    path: str


@attrs.frozen(kw_only=True)
class NotSent:
    """An attachment that did not reach the chat (its workspace path), and
    why (words for the user)."""

    path: str
    reason: str


@attrs.frozen(kw_only=True)
class FilesOutcome:
    """What became of a reply's attachments, in their order."""

    uploaded: tuple[Uploaded, ...]
    not_sent: tuple[NotSent, ...]


class UploadFiles(Protocol):
    """What the channel calls to upload a reply's attachments (`FileUploader`)."""

    async def __call__(
        self, attachments: Sequence[Attachment], *, max_upload_mib: int, chat_id: str
    ) -> FilesOutcome: ...


def upload_limit(max_upload_mib: int) -> int:
    """The largest file uploaded (bytes) for a server limit of `max_upload_mib`."""
    return min(max_upload_mib * MIB, MAX_OUTBOUND_BYTES)


def links_text(uploaded: Sequence[Uploaded]) -> str:
    """One Markdown link per uploaded file, a line each (see the module docstring)."""
    return "\n".join(f"[{markdown_literal(file.name)}]({file.path})" for file in uploaded)


def not_sent_text(not_sent: Sequence[NotSent]) -> str:
    """One sentence per file left out, a line each (see the module docstring)."""
    return "\n".join(
        f"(I could not send the file {markdown_literal(f.path)}: {markdown_literal(f.reason)}.)"
        for f in not_sent
    )


@attrs.define(kw_only=True, eq=False)
class FileUploader:
    """Uploads a reply's attachments (see the module docstring). `workspace`
    is where they are read from; `limiter` bounds the reads' thread work."""

    api: ZulipApi
    workspace: Path
    logger: Logger
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def __call__(
        self, attachments: Sequence[Attachment], *, max_upload_mib: int, chat_id: str
    ) -> FilesOutcome:
        """Upload `attachments` for the chat `chat_id` (named in the WARN
        records) to a server accepting files of `max_upload_mib` MiB (0:
        none); what became of them. Raises nothing for a file."""
        uploaded: list[Uploaded] = []
        not_sent: list[NotSent] = []
        for attachment in attachments:
            outcome = await self._send_one(attachment.path, max_upload_mib)
            if isinstance(outcome, Uploaded):
                uploaded.append(outcome)
                continue
            not_sent.append(NotSent(path=attachment.path, reason=outcome))
            self.logger.warn(
                "zulip attachment not sent", chat_id=chat_id, path=attachment.path, reason=outcome
            )
        return FilesOutcome(uploaded=tuple(uploaded), not_sent=tuple(not_sent))

    async def _send_one(self, relpath: str, max_upload_mib: int) -> Uploaded | str:
        """Upload one file: where it is, else why not (words for the user)."""
        if max_upload_mib == 0:
            return "this Zulip server accepts no uploads"
        limit = upload_limit(max_upload_mib)
        read = functools.partial(read_outbound, self.workspace, relpath, limit)
        try:
            data = await trio.to_thread.run_sync(read, limiter=self.limiter)
        except WorkspacePathError as exc:
            return refusal_words(exc.refusal, max_bytes=limit) or exc.detail
        name = valid_utf16(PurePosixPath(relpath).name)
        for _ in range(RATE_LIMIT_WAITS + 1):
            try:
                return Uploaded(name=name, path=await self.api.upload(name, data))
            except RateLimited as exc:
                if exc.retry_after is None or exc.retry_after > RETRY_AFTER_CAP:
                    return f"Zulip refused it: {exc.msg}"
                await trio.sleep(exc.retry_after)
            except ZulipError as exc:
                if is_transient(exc):  # it may have been stored: never tried again
                    return f"the upload failed: {exc.msg}"
                return f"Zulip refused it: {exc.msg}"
            except ValueError as exc:  # a name no request can carry
                return f"it cannot be uploaded: {exc}"
        return "Zulip kept asking to wait"
