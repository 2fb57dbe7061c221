"""A bridge `message` frame as the gate and the journal take it (pure).

`incoming(frame, channel)` checks what the frame says against itself and the
contract (a group flag that matches the chat JID, a chat that is a person or
a group) and returns who wrote (`Sender`, with the id `jids.sender_id`
gives), where (`Chat`; a group message addresses the bot when it mentions it
or replies to it), and the `Arrival` to journal, without attachments: the
bridge downloads a message's media only when the channel asks, after the
gate admitted it. `with_media(arrival, fetched)` then adds what the bridge
answered: each saved file (its path checked: relative to the workspace and
under `inbox/`) as an attachment, and each media that could not be saved as
a note the model reads before the text (the text itself is never lost).

The journal's dedup keys name the chat and the WhatsApp message id, so a
message the bridge delivers again (after a reconnect, or a restart of either
side) is recognised as long as the journal remembers it
(`inbound_journal.KEEP_DONE` answered entries, across restarts).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

import attrs

from autobot.channels.access import Chat, Sender
from autobot.channels.base import Attachment, AttachmentKind, InboundMessage
from autobot.channels.inbound_journal import Arrival, default_dedup_keys
from autobot.channels.names import one_line, printable_name
from autobot.channels.utf16 import valid_utf16
from autobot.channels.whatsapp.jids import is_group_jid, person_id, sender_id
from autobot.channels.whatsapp.protocol import (
    BridgeMessage,
    MediaFailure,
    ProtocolError,
    SavedMedia,
)

INBOX = "inbox"
MAX_REASON = 200  # of a media the bridge could not save, as the model reads it
_NOUNS = {
    AttachmentKind.PHOTO: "a photo",
    AttachmentKind.DOCUMENT: "a document",
    AttachmentKind.VOICE: "a voice note",
    AttachmentKind.AUDIO: "an audio file",
    AttachmentKind.VIDEO: "a video",
}


@attrs.frozen(kw_only=True)
class Incoming:
    """One inbound WhatsApp message, ready for the gate and the journal."""

    sender: Sender
    chat: Chat
    arrival: Arrival


def inbox_path(path: str) -> str:
    """`path` if it names a file under the workspace's `inbox/` (relative, no
    `.`/`..`/empty component, no backslash or NUL); raises ProtocolError."""
    parts = PurePosixPath(path).parts
    odd = "\\" in path or "\0" in path or path != "/".join(parts)
    if odd or len(parts) < 2 or parts[0] != INBOX or any(p in (".", "..") for p in parts):
        raise ProtocolError("message frame: a media path is not a file under inbox/")
    return path


def incoming(frame: BridgeMessage, channel: str) -> Incoming:
    """Check `frame` and build its `Incoming` (module docstring). Raises
    ProtocolError for a frame that contradicts itself or the contract."""
    if frame.is_group != is_group_jid(frame.chat):
        raise ProtocolError("message frame: is_group does not match the chat JID")
    if not frame.is_group and person_id(frame.chat) is None:
        raise ProtocolError("message frame: the chat is neither a person nor a group")
    author = sender_id(frame.phone, frame.sender)
    addressed = frame.mentioned or frame.reply_to_bot
    message = InboundMessage(
        channel=channel,
        chat_id=frame.chat,
        content=valid_utf16(frame.text),
        sender_id=author,
        sender_name=printable_name(frame.push_name or "") or author,
        message_id=frame.id,
        reply_to_id=frame.reply_to,
        is_group=frame.is_group,
        addressed=addressed,
    )
    return Incoming(
        sender=Sender(id=author),
        chat=Chat(id=frame.chat, is_group=frame.is_group, addressed=addressed),
        arrival=Arrival(message=message, dedup_keys=default_dedup_keys(message, None)),
    )


def with_media(
    arrival: Arrival, fetched: Sequence[SavedMedia | MediaFailure]
) -> tuple[Arrival, tuple[MediaFailure, ...]]:
    """`arrival` with the media the bridge fetched for it: saved files as
    attachments, the others as notes before the text (module docstring); and
    those others, for the log. A saved file whose path is not under `inbox/`
    counts as not saved."""
    attachments: list[Attachment] = []
    failures: list[MediaFailure] = []
    for media in fetched:
        if isinstance(media, MediaFailure):
            failures.append(media)
            continue
        try:
            path = inbox_path(media.path)
        except ProtocolError:
            failures.append(
                MediaFailure(kind=media.kind, error="the bridge named an unusable path")
            )
            continue
        attachment = Attachment(
            kind=media.kind, path=path, mime_type=media.mime_type[:255], size=media.size
        )
        attachments.append(attachment)
    message = arrival.message
    notes = [
        f"[{_NOUNS[failure.kind]} came with this message but could not be downloaded: "
        f"{one_line(failure.error, MAX_REASON) or 'no reason given'}]"
        for failure in failures
    ]
    content = "\n".join([*notes, message.content] if message.content else notes)
    message = attrs.evolve(message, content=content, attachments=tuple(attachments))
    return attrs.evolve(arrival, message=message), tuple(failures)
