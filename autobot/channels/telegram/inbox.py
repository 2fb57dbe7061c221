"""Telegram files and the workspace: inbound media into `workspace/inbox/`,
outbound attachments out of the workspace.

Inbound (`InboxSaver`, the channel's `save_media`): the photo (largest size),
document or voice note of an allowed message is fetched (getFile, then the
file URL, at most `max_bytes`: 20 MB by default, the Bot API's own cap) and
stored under a generated name, `telegram-<chat>-<message>-<kind>.<ext>`: the
chat id reduced to `A-Z a-z 0-9 -`, the extension from a small allowlist, by
the document's own name first, then by MIME type, else `bin`. Nothing the
sender chose reaches the file system. A file is created exclusively: a name
already taken (the model may have made it, or a symlink there) gets `-2`,
`-3`... and what was there is never touched. `inbox/` is created 0700, files
0600, all through `Workspace` (check and use in one step: a symlinked
`inbox/` is refused). With a `transcribe` endpoint configured, a saved voice
note is also transcribed (`autobot.channels.transcribe`) and its text
travels as the attachment's `transcript`; a failed transcription is a WARN,
and the voice note arrives untranscribed (the model is told so).

Outbound (`read_attachment`): a workspace file the `message` tool names, read
through `Workspace` (no dotenv name, no symlink, only a regular file, nothing
outside the workspace, at most `max_bytes`), with the method that sends it:
sendPhoto for a .jpg/.jpeg/.png/.webp/.gif of at most 10 MB, sendDocument
otherwise.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import attrs
import trio

from autobot.channels.base import Attachment, AttachmentKind
from autobot.channels.inbox_files import (
    EXTENSIONS,
    EXTENSIONS_BY_MIME,
    clean_mime,
    store_in_inbox,
)
from autobot.channels.outbound_files import read_outbound
from autobot.channels.telegram.api import (
    MAX_PHOTO_BYTES,
    BadRequest,
    FileTooLarge,
    TelegramApi,
    UploadMethod,
)
from autobot.channels.telegram.updates import MediaRef, TelegramEvent
from autobot.channels.transcribe import Transcriber, TranscriptionError
from autobot.logs.records import Logger
from autobot.platform.workspace_fs import WorkspacePathError

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
PHOTO_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif"})
DEFAULT_EXTENSION = {AttachmentKind.PHOTO: "jpg", AttachmentKind.VOICE: "ogg"}  # else "bin"
DEFAULT_MIME = {AttachmentKind.PHOTO: "image/jpeg", AttachmentKind.VOICE: "audio/ogg"}

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9-]")


def extension_for(media: MediaRef) -> str:
    """The stored file's extension: a photo is a JPEG; a document's own
    extension or its MIME type's, when on the allowlist; else `bin`."""
    if media.kind is AttachmentKind.PHOTO:
        return "jpg"
    suffix = PurePosixPath(media.file_name or "").suffix.lower().removeprefix(".")
    if media.kind is AttachmentKind.DOCUMENT and suffix in EXTENSIONS:
        return suffix
    by_mime = EXTENSIONS_BY_MIME.get(_mime(media) or "")
    return by_mime or DEFAULT_EXTENSION.get(media.kind, "bin")


def inbox_name(chat_id: str, message_id: int, media: MediaRef, number: int = 1) -> str:
    """`telegram-<chat>-<message>-<kind>.<ext>`, or with `-<number>` after the
    kind for the numbered alternatives (2 and up)."""
    chat = _UNSAFE_ID.sub("_", chat_id)[:32] or "_"
    counter = "" if number == 1 else f"-{number}"
    return f"telegram-{chat}-{message_id}-{media.kind.value}{counter}.{extension_for(media)}"


def store_inbound(
    workspace_root: Path, *, chat_id: str, message_id: int, media: MediaRef, data: bytes
) -> Attachment:
    """Store `data` as a new file in `inbox/` (blocking). Raises
    `WorkspacePathError` when `inbox/` is refused (a symlink, not a
    directory...) or every name is taken."""
    relative = store_in_inbox(
        workspace_root, functools.partial(inbox_name, chat_id, message_id, media), data
    )
    mime = _mime(media) or DEFAULT_MIME.get(media.kind, "application/octet-stream")
    return Attachment(kind=media.kind, path=relative, mime_type=mime, size=len(data))


@attrs.define(kw_only=True)
class InboxSaver:
    """Fetches an event's media into the workspace inbox: the channel's `save_media`.

    `api` downloads, `workspace` is the workspace root, `max_bytes` the size
    cap, `limiter` bounds the threads that write (one: files arrive one
    message at a time), `transcribe` (when set) turns voice notes into text.
    Calling it returns the event's attachments: none for
    an event without media, or whose file was refused for good (too large
    for the cap or for the Bot API, an unusable inbox): a WARN record says
    which and why. Every other failure propagates: transient Bot API ones
    (`is_transient`), so the batch can be fetched again later, and a revoked
    token (`Unauthorized`).
    """

    api: TelegramApi
    workspace: Path
    logger: Logger
    max_bytes: int = attrs.field(default=DEFAULT_MAX_BYTES, validator=attrs.validators.gt(0))
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))
    transcribe: Transcriber | None = None

    async def __call__(self, event: TelegramEvent) -> tuple[Attachment, ...]:
        media = event.media
        if media is None:
            return ()
        try:
            if media.size is not None and media.size > self.max_bytes:
                detail = f"the file is {media.size} bytes, more than {self.max_bytes}"
                raise FileTooLarge(0, detail, method="getFile")
            file_path, _ = await self.api.get_file(media.file_id)
            data = await self.api.download(file_path, max_bytes=self.max_bytes)
            store = functools.partial(
                store_inbound,
                self.workspace,
                chat_id=event.chat_id,
                message_id=event.message_id,
                media=media,
                data=data,
            )
            attachment = await trio.to_thread.run_sync(store, limiter=self.limiter)
        except (FileTooLarge, BadRequest, WorkspacePathError) as exc:
            self.logger.warn(
                "telegram file not saved",
                chat_id=event.chat_id,
                message_id=event.message_id,
                kind=media.kind.value,
                max_bytes=self.max_bytes,
                reason=str(exc),
            )
            return ()
        if media.kind is AttachmentKind.VOICE and self.transcribe is not None:
            attachment = await self._transcribed(self.transcribe, event, attachment, data)
        return (attachment,)

    async def _transcribed(
        self, transcribe: Transcriber, event: TelegramEvent, voice: Attachment, data: bytes
    ) -> Attachment:
        """`voice` with its transcript, or as it is (and a WARN) when the
        endpoint failed: the voice note is saved and goes on regardless."""
        name = PurePosixPath(voice.path).name
        try:
            text = await transcribe(data, filename=name, mime_type=voice.mime_type)
        except TranscriptionError as exc:
            self.logger.warn(
                "telegram voice note not transcribed",
                chat_id=event.chat_id,
                message_id=event.message_id,
                reason=str(exc),
            )
            return voice
        return attrs.evolve(voice, transcript=text)


class OutboundFile(NamedTuple):
    """A workspace file ready to upload: its name, content and Bot API method."""

    filename: str
    data: bytes
    method: UploadMethod


def read_attachment(workspace_root: Path, relpath: str, max_bytes: int) -> OutboundFile:
    """The workspace file `relpath` (blocking) and how to send it. Raises
    `WorkspacePathError` for a dotenv name, a symlink anywhere on the way, a
    file that is not regular, a path leaving the workspace, or more than
    `max_bytes`."""
    data = read_outbound(workspace_root, relpath, max_bytes)
    filename = PurePosixPath(relpath).name
    extension = PurePosixPath(filename).suffix.lower().removeprefix(".")
    photo = extension in PHOTO_EXTENSIONS and len(data) <= MAX_PHOTO_BYTES
    return OutboundFile(filename, data, "sendPhoto" if photo else "sendDocument")


def _mime(media: MediaRef) -> str | None:
    """The media's MIME type, lower-cased, if it has the form `type/subtype`."""
    return clean_mime(media.mime_type)
