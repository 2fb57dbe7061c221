"""The Bot API methods that send: sendMessage, sendPhoto, sendDocument,
sendVoice, sendChatAction; and getFile.

Text and captions go through the parse mode (none with `entities`, HTML,
MarkdownV2); any entity problem is 400 "Bad Request: can't parse entities:
<detail>". Limits are counted in UTF-16 code units after parsing: text 1-4096
("message text is empty" / "message is too long"), captions up to 1024
("message caption is too long"). `chat_id` must name a known chat (400 "chat
not found"); a private chat whose user blocked the bot is 403 "Forbidden:
bot was blocked by the user". `message_thread_id` must be an open topic of a
forum chat (400 "message thread not found"); a reply target
(`reply_parameters` or `reply_to_message_id`) must exist in the chat unless
`allow_sending_without_reply`. Media come as a multipart upload or a known
file_id; the fake does not decode images, so a sent photo's width and height
are 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from typing import Any

import attrs
import trio

from autobot.testing.http_server import HttpResponse
from autobot.testing.telegram.chats import ChatState
from autobot.testing.telegram.entities import (
    EntityError,
    FormattedText,
    entities_from_api,
    utf16_len,
)
from autobot.testing.telegram.files import StoredFile
from autobot.testing.telegram.html import parse_html
from autobot.testing.telegram.markdown import parse_markdown_v2
from autobot.testing.telegram.records import ChatAction, SentMessage
from autobot.testing.telegram.request import ApiError, Arguments, UploadedFile, ok_response
from autobot.testing.telegram.state import TelegramState

MAX_TEXT_UNITS = 4096
MAX_CAPTION_UNITS = 1024
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# method -> (file field, folder, extension when the upload's name has none)
MEDIA = {
    "sendPhoto": ("photo", "photos", ".jpg"),
    "sendDocument": ("document", "documents", ""),
    "sendVoice": ("voice", "voice", ".oga"),
}


async def send_message(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """sendMessage: the sent Message."""
    if not arguments.string("text"):
        raise ApiError(400, "Bad Request: message text is empty")
    formatted = formatted_text(arguments, "text", "entities")
    if not formatted.text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(formatted.text) > MAX_TEXT_UNITS:
        raise ApiError(400, "Bad Request: message is too long")
    destination = _destination(state, arguments)
    content = formatted.fields("text", "entities")
    return _send(state, arguments, "sendMessage", destination, content, formatted, upload=None)


def media_sender(method: str) -> Callable[[TelegramState, Arguments], Awaitable[HttpResponse]]:
    """The handler of sendPhoto, sendDocument or sendVoice."""
    field, folder, extension = MEDIA[method]

    async def send_media(state: TelegramState, arguments: Arguments) -> HttpResponse:
        caption = FormattedText(text="")
        if arguments.string("caption"):
            caption = formatted_text(arguments, "caption", "caption_entities")
            if utf16_len(caption.text) > MAX_CAPTION_UNITS:
                raise ApiError(400, "Bad Request: message caption is too long")
        duration = arguments.integer("duration") or 0
        destination = _destination(state, arguments)
        stored, upload = _media_file(state, arguments, field, folder, extension)
        content: dict[str, Any] = {field: _media_object(field, stored, upload, duration)}
        if caption.text:
            content.update(caption.fields("caption", "caption_entities"))
        return _send(state, arguments, method, destination, content, caption, upload=upload)

    return send_media


async def send_chat_action(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """sendChatAction: true, and the action recorded with its time."""
    action = arguments.string("action")
    if action not in CHAT_ACTIONS:
        raise ApiError(400, "Bad Request: wrong parameter action in request")
    chat = _writable_chat(state, arguments)
    thread_id = _thread(chat, arguments)
    state.chat_actions.append(
        ChatAction(chat_id=chat.chat.id, action=action, thread_id=thread_id, at=trio.current_time())
    )
    state.changed()
    return ok_response(True)


async def get_file(state: TelegramState, arguments: Arguments) -> HttpResponse:
    """getFile: the File with a file_path valid for downloading for an hour."""
    stored = state.files.issue(arguments.string("file_id"), trio.current_time())
    return ok_response({**stored.ids(), "file_path": stored.file_path})


def formatted_text(arguments: Arguments, field: str, entities_field: str) -> FormattedText:
    """The plain text and entities of `field` after the parse mode; raises `ApiError`."""
    raw = arguments.string(field) or ""
    mode = (arguments.string("parse_mode") or "").lower()
    try:
        if mode in ("", "none"):
            entities = entities_from_api(arguments.structured(entities_field), raw)
            return FormattedText(text=raw, entities=entities)
        if mode == "html":
            return parse_html(raw)
        if mode == "markdownv2":
            return parse_markdown_v2(raw)
    except EntityError as error:
        raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
    if mode == "markdown":
        raise ApiError(
            400,
            "Bad Request: the fake Bot API does not implement the legacy Markdown parse "
            "mode; use MarkdownV2, HTML or entities",
        )
    raise ApiError(400, "Bad Request: unsupported parse_mode")


@attrs.frozen
class _Destination:
    """Where a message goes, every argument about it checked."""

    chat: ChatState
    thread_id: int | None
    reply_to: int | None


def _destination(state: TelegramState, arguments: Arguments) -> _Destination:
    chat = _writable_chat(state, arguments)
    return _Destination(chat, _thread(chat, arguments), _reply_target(chat, arguments))


def _send(
    state: TelegramState,
    arguments: Arguments,
    method: str,
    destination: _Destination,
    content: dict[str, Any],
    formatted: FormattedText,
    *,
    upload: UploadedFile | None,
) -> HttpResponse:
    """Store the bot's message, record it, and answer it."""
    message = destination.chat.new_message(
        sender=state.bot.user,
        date=state.unix_time(),
        content=content,
        thread_id=destination.thread_id,
        reply_to=destination.reply_to,
    )
    state.record_sent(
        SentMessage(
            method=method,
            chat_id=destination.chat.chat.id,
            message_id=message["message_id"],
            text=formatted.text,
            entities=formatted.entities,
            parse_mode=arguments.string("parse_mode"),
            thread_id=destination.thread_id,
            reply_to_message_id=destination.reply_to,
            upload=upload,
            at=trio.current_time(),
            message=message,
        )
    )
    return ok_response(message)


def _writable_chat(state: TelegramState, arguments: Arguments) -> ChatState:
    """The chat `chat_id` names; raises `ApiError` (400 unknown, 403 blocked)."""
    value = arguments.values.get("chat_id")
    reference: int | str | None
    if isinstance(value, str) and value.startswith("@"):
        reference = value
    else:
        try:
            reference = arguments.integer("chat_id")
        except ApiError:
            raise ApiError(400, "Bad Request: chat not found") from None
    chat = state.chats.resolve(reference)
    if chat.blocked:
        raise ApiError(403, "Forbidden: bot was blocked by the user")
    return chat


def _thread(chat: ChatState, arguments: Arguments) -> int | None:
    thread_id = arguments.integer("message_thread_id")
    if not thread_id:
        return None
    if thread_id not in chat.topics:
        raise ApiError(400, "Bad Request: message thread not found")
    return thread_id


def _reply_target(chat: ChatState, arguments: Arguments) -> int | None:
    """The id of the message to reply to, or None; raises `ApiError` 400 for a
    target the chat does not have (unless sending without it is allowed)."""
    parameters = arguments.structured("reply_parameters")
    if parameters is not None:
        if not isinstance(parameters, dict) or type(parameters.get("message_id")) is not int:
            raise ApiError(400, "Bad Request: can't parse reply parameters JSON object")
        if parameters.get("chat_id", chat.chat.id) != chat.chat.id:
            raise ApiError(
                400, "Bad Request: the fake Bot API does not implement replies in another chat"
            )
        message_id: int | None = parameters["message_id"]
        allow_without = parameters.get("allow_sending_without_reply") is True
    else:
        message_id = arguments.integer("reply_to_message_id")
        allow_without = arguments.flag("allow_sending_without_reply")
    if not message_id or (message_id not in chat.messages and allow_without):
        return None
    if message_id not in chat.messages:
        raise ApiError(400, "Bad Request: message to be replied not found")
    return message_id


def _media_file(
    state: TelegramState, arguments: Arguments, field: str, folder: str, extension: str
) -> tuple[StoredFile, UploadedFile | None]:
    """The file to send: a multipart upload (stored as a new file) or a known file_id."""
    upload = arguments.files.get(field)
    if upload is not None:
        if not upload.content:
            raise ApiError(400, "Bad Request: file must be non-empty")
        suffix = PurePosixPath(upload.file_name).suffix or extension
        return state.files.add(upload.content, folder=folder, extension=suffix), upload
    reference = arguments.string(field)
    if not reference:
        raise ApiError(400, f"Bad Request: there is no {field} in the request")
    stored = state.files.by_id.get(reference)
    if stored is not None:
        return stored, None
    if "://" in reference:  # the fake has no Internet to fetch it from
        raise ApiError(400, "Bad Request: failed to get HTTP URL content")
    raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")


def _media_object(
    field: str, stored: StoredFile, upload: UploadedFile | None, duration: int
) -> Any:
    """The photo (PhotoSize array), document or voice object of a sent message."""
    if field == "photo":
        return [{**stored.ids(), "width": 0, "height": 0}]
    mime_type = (upload.content_type if upload else "") or "application/octet-stream"
    if field == "voice":
        return {**stored.ids(), "duration": duration, "mime_type": mime_type}
    file_name = upload.file_name if upload else stored.file_path.rsplit("/", 1)[-1]
    return {**stored.ids(), "file_name": file_name, "mime_type": mime_type}
