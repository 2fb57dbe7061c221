"""The WhatsApp bridge protocol, version 2: frames and the handshake's MACs (pure).

The contract shared with the Node bridge (README "WhatsApp bridge protocol"):
every frame is one JSON object with a string `type`, sent as a WebSocket text
frame of at most `MAX_FRAME_BYTES` (UTF-8) bytes. This module turns frames into
frozen values and back, and computes the HMAC-SHA256 proofs of the
challenge-response handshake; it does no I/O.

Decoding is strict about what the contract fixes (every field present, of its
type; numbers finite, never NaN; nonces and MACs 64 lowercase hex characters)
and ignores fields it does not know, so a newer bridge may add some. Every
failure is a `ProtocolError` whose text names the frame type and field, never
a value (a message's text must not reach the log). Client frames are checked
when they are built: a `Send` whose text is longer than the bridge accepts, or
whose recipient is not a full JID, cannot exist.

Version 2 (version 1 sent media already downloaded): a `message` frame only
describes its media (`Media`: kind, MIME type, declared size); the client asks
for them with `FetchMedia` once it has admitted the message, and the bridge
answers `FetchedMedia` (a `SavedMedia` or a `MediaFailure` per media). The
handshake is unchanged (its MAC label still names version 1).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from autobot.channels.base import AttachmentKind

PROTOCOL_VERSION = 2
MAX_FRAME_BYTES = 262_144  # 256 KiB, in either direction
RESOURCE = "/"  # the request path autobot opens (part of the MAC)
MAC_LABEL = "autobot-whatsapp-bridge/1"  # names the handshake, unchanged since version 1
SECRET_BYTES = 32
MAX_TEXT_UNITS = 65_536  # UTF-16 code units (JavaScript's `text.length`) per `send`
MAX_REQUEST_ID = 64
MAX_FIELD = 4096  # ids, JIDs, paths, MIME types, names: anything but a message text

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SECRET_TEXT = re.compile(rb"([0-9a-f]{64})\n?")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# A full JID the bridge can send to: a user (digits@s.whatsapp.net, or a
# linked-identity digits@lid) or a group (digits[-digits]@g.us).
_TARGET_JID = re.compile(r"[0-9]{1,20}@(s\.whatsapp\.net|lid)|[0-9]{1,20}(-[0-9]{1,20})?@g\.us")


class ProtocolError(ValueError):
    """A frame that breaks the contract (the text names the field, never a value)."""


class FrameTooLarge(ProtocolError):
    """A frame over `MAX_FRAME_BYTES` (the connection is closed with 1009)."""


class UnknownFrame(ProtocolError):
    """A well-formed frame of a type this side does not know."""


class SecretFormatError(ValueError):
    """The bridge secret file does not hold 64 lowercase hex characters."""


class CloseCode(enum.IntEnum):
    """WebSocket close codes the contract gives a meaning."""

    NORMAL = 1000
    BINARY_FRAME = 1003
    TOO_BIG = 1009
    AUTH_FAILED = 4001
    AUTH_TIMEOUT = 4002
    PROTOCOL_ERROR = 4003
    UNSUPPORTED_VERSION = 4004
    REPLACED = 4009


class LinkState(enum.Enum):
    """The bridge's WhatsApp session, as its `status` frames report it."""

    CONNECTING = "connecting"
    QR = "qr"  # waiting for the phone to scan the QR code
    OPEN = "open"
    LOGGED_OUT = "logged_out"  # the phone unlinked the bridge: link again
    CLOSED = "closed"


class ErrorCode(enum.Enum):
    """The `code` of an `error` frame; `OTHER` for any code this version does not know."""

    PATH_REFUSED = "path_refused"
    NOT_CONNECTED = "not_connected"
    BAD_REQUEST = "bad_request"
    TOO_LARGE = "too_large"
    SEND_FAILED = "send_failed"
    UNKNOWN_TYPE = "unknown_type"
    BUSY = "busy"  # too many requests in flight on the connection
    UNKNOWN_MESSAGE = "unknown_message"  # fetch_media for a message the bridge does not keep
    OTHER = "other"


# --- the secret and the handshake's MACs ----------------------------------------


def parse_secret(data: bytes) -> bytes:
    """The 32-byte HMAC key in a secret file's content: 64 lowercase hex
    characters and at most one trailing newline. Raises SecretFormatError
    (never quoting the content)."""
    match = _SECRET_TEXT.fullmatch(data)
    if match is None:
        raise SecretFormatError(
            "does not hold exactly 64 lowercase hex characters (32 random bytes) "
            "and an optional newline"
        )
    return bytes.fromhex(match.group(1).decode("ascii"))


def _mac(key: bytes, role: str, nonce: str, client_nonce: str, resource: str) -> str:
    if len(key) != SECRET_BYTES:
        raise ValueError(f"the HMAC key must be {SECRET_BYTES} bytes")
    text = f"{MAC_LABEL}\n{role}\n{nonce}\n{client_nonce}\n{resource}"
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def client_mac(key: bytes, nonce: str, client_nonce: str, resource: str = RESOURCE) -> str:
    """What the client proves in its `auth` frame (64 lowercase hex)."""
    return _mac(key, "client", nonce, client_nonce, resource)


def bridge_mac(key: bytes, nonce: str, client_nonce: str, resource: str = RESOURCE) -> str:
    """What the bridge proves in its `welcome` frame (64 lowercase hex)."""
    return _mac(key, "bridge", nonce, client_nonce, resource)


def mac_matches(expected: str, given: str) -> bool:
    """Whether `given` is `expected`, compared in constant time; a `given`
    that is not 64 lowercase hex characters never matches."""
    if not _HEX64.fullmatch(given):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))


# --- frame values ------------------------------------------------------------------


def _hex64(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise ProtocolError(f"{attribute.name} must be 64 lowercase hex characters")


def _request_id(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise ProtocolError(
            f"{attribute.name} must be 1 to {MAX_REQUEST_ID} letters, digits or _ . : -"
        )


def _target(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _TARGET_JID.fullmatch(value):
        raise ProtocolError(
            f"{attribute.name} must be a full JID (digits@s.whatsapp.net, digits@lid "
            "or a group's ...@g.us)"
        )


def utf16_units(text: str) -> int:
    """`text`'s length as JavaScript counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _text(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or utf16_units(value) > MAX_TEXT_UNITS:
        raise ProtocolError(f"{attribute.name} must be text of at most {MAX_TEXT_UNITS} units")


def _field(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= MAX_FIELD):
        raise ProtocolError(f"{attribute.name} must be a non-empty string")


@attrs.frozen(kw_only=True)
class Challenge:
    """Bridge -> client, first frame: the bridge's fresh nonce."""

    version: int
    nonce: str = attrs.field(validator=_hex64)


@attrs.frozen(kw_only=True)
class Auth:
    """Client -> bridge: the answer to a challenge."""

    version: int
    client_nonce: str = attrs.field(validator=_hex64)
    mac: str = attrs.field(validator=_hex64)


@attrs.frozen(kw_only=True)
class Welcome:
    """Bridge -> client: authenticated; `mac` proves the bridge knows the secret."""

    version: int
    mac: str = attrs.field(validator=_hex64)


@attrs.frozen(kw_only=True)
class Media:
    """A media of an inbound message, as it arrives: nothing is downloaded yet.
    `size` is what the sender declared (None: unknown)."""

    kind: AttachmentKind
    mime_type: str
    size: int | None = None


@attrs.frozen(kw_only=True)
class SavedMedia:
    """A media the bridge downloaded on request, saved under the workspace's `inbox/`."""

    kind: AttachmentKind
    path: str
    mime_type: str
    size: int


@attrs.frozen(kw_only=True)
class MediaFailure:
    """A media the bridge could not download, and why (its words, for the log and the model)."""

    kind: AttachmentKind
    error: str


@attrs.frozen(kw_only=True)
class BridgeMessage:
    """Bridge -> client: one WhatsApp message (kept by the bridge until acked)."""

    id: str
    chat: str
    sender: str
    phone: str | None
    push_name: str | None
    text: str
    timestamp: float
    is_group: bool
    mentioned: bool
    reply_to_bot: bool
    reply_to: str | None
    media: tuple[Media, ...] = ()


@attrs.frozen(kw_only=True)
class Status:
    """Bridge -> client: the WhatsApp session's state and a human detail."""

    state: LinkState
    detail: str


@attrs.frozen(kw_only=True)
class Qr:
    """Bridge -> client: a new QR code to link the phone, and where its PNG
    was written. Decoding never keeps the payload (it stays empty: nothing
    can log it); only the fake bridge sets one, to send."""

    png: str | None
    payload: str = attrs.field(default="", repr=False)


@attrs.frozen(kw_only=True)
class Sent:
    """Bridge -> client: request `request_id` was sent as WhatsApp message `id`."""

    request_id: str
    id: str


@attrs.frozen(kw_only=True)
class FetchedMedia:
    """Bridge -> client: the answer to fetch_media `request_id`, for message
    `id`: one entry per media of the message."""

    request_id: str
    id: str
    media: tuple[SavedMedia | MediaFailure, ...]


@attrs.frozen(kw_only=True)
class BridgeError:
    """Bridge -> client: a request failed (`request_id` None: not tied to one)."""

    request_id: str | None
    code: ErrorCode
    message: str
    raw_code: str = ""  # the code as sent, when it is one this version does not know


@attrs.frozen(kw_only=True)
class Ack:
    """Client -> bridge: message `id` is journaled; the bridge may forget it."""

    id: str = attrs.field(validator=_field)


@attrs.frozen(kw_only=True)
class FetchMedia:
    """Client -> bridge: download the media of message `id` (it was admitted)."""

    request_id: str = attrs.field(validator=_request_id)
    id: str = attrs.field(validator=_field)


@attrs.frozen(kw_only=True)
class Send:
    """Client -> bridge: send `text` to the full JID `to`."""

    request_id: str = attrs.field(validator=_request_id)
    to: str = attrs.field(validator=_target)
    text: str = attrs.field(validator=_text)
    reply_to: str | None = attrs.field(default=None, validator=_field)


@attrs.frozen(kw_only=True)
class SendMedia:
    """Client -> bridge: send the workspace file `path` to the full JID `to`."""

    request_id: str = attrs.field(validator=_request_id)
    to: str = attrs.field(validator=_target)
    path: str = attrs.field(validator=_field)
    kind: AttachmentKind
    caption: str | None = attrs.field(default=None)

    @caption.validator
    def _caption(self, attribute: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None:
            _text(self, attribute, value)


BridgeFrame = Challenge | Welcome | BridgeMessage | Status | Qr | Sent | FetchedMedia | BridgeError
ClientFrame = Auth | Ack | FetchMedia | Send | SendMedia


# --- decoding ----------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"{name} is not a JSON number")


def _load(text: str) -> tuple[str, Mapping[str, Any]]:
    """The frame's type and fields; raises FrameTooLarge or ProtocolError."""
    if len(text) > MAX_FRAME_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"frame larger than {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("frame is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError("frame is not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("frame has no string type")
    return kind, data


def _get(data: Mapping[str, Any], frame: str, key: str, *kinds: type) -> Any:
    """`data[key]` if present and exactly of one of `kinds` (a bool is no int)."""
    if key not in data:
        raise ProtocolError(f"{frame} frame: missing field {key}")
    value = data[key]
    if type(value) not in kinds:
        raise ProtocolError(f"{frame} frame: field {key} has the wrong type")
    return value


def _string(data: Mapping[str, Any], frame: str, key: str, *, optional: bool = False) -> Any:
    value = _get(data, frame, key, str, type(None)) if optional else _get(data, frame, key, str)
    if value is not None and not 0 < len(value) <= MAX_FIELD:
        raise ProtocolError(f"{frame} frame: field {key} is empty or too long")
    return value


def _version(data: Mapping[str, Any], frame: str) -> int:
    version: int = _get(data, frame, "version", int)
    return version


def _built(frame: str, build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ProtocolError as exc:
        raise ProtocolError(f"{frame} frame: {exc}") from None


def _kind(data: Mapping[str, Any], frame: str) -> AttachmentKind:
    """The `kind` of a `send_media` frame or of a media item of `frame`."""
    try:
        return AttachmentKind(_get(data, frame, "kind", str))
    except ValueError:
        raise ProtocolError(f"{frame} frame: unknown kind") from None


def _size(item: Mapping[str, Any], frame: str, *, optional: bool) -> Any:
    kinds = (int, type(None)) if optional else (int,)
    size = _get(item, frame, "size", *kinds)
    if size is not None and size < 0:
        raise ProtocolError(f"{frame} frame: a media item has a negative size")
    return size


def _media(item: Any) -> Media:
    if not isinstance(item, dict):
        raise ProtocolError("message frame: a media item is not an object")
    return Media(
        kind=_kind(item, "message"),
        mime_type=_get(item, "message", "mime_type", str),
        size=_size(item, "message", optional=True),
    )


def _fetched_item(item: Any) -> SavedMedia | MediaFailure:
    if not isinstance(item, dict):
        raise ProtocolError("media frame: a media item is not an object")
    kind = _kind(item, "media")
    if "error" in item:
        return MediaFailure(kind=kind, error=_get(item, "media", "error", str))
    return SavedMedia(
        kind=kind,
        path=_string(item, "media", "path"),
        mime_type=_get(item, "media", "mime_type", str),
        size=_size(item, "media", optional=False),
    )


def _fetched(data: Mapping[str, Any]) -> FetchedMedia:
    return FetchedMedia(
        request_id=_string(data, "media", "request_id"),
        id=_string(data, "media", "id"),
        media=tuple(_fetched_item(item) for item in _get(data, "media", "media", list)),
    )


def _message(data: Mapping[str, Any]) -> BridgeMessage:
    frame = "message"
    timestamp = _get(data, frame, "timestamp", int, float)
    if not (math.isfinite(timestamp) and timestamp >= 0):
        raise ProtocolError("message frame: timestamp is negative")
    media = _get(data, frame, "media", list)
    return BridgeMessage(
        id=_string(data, frame, "id"),
        chat=_string(data, frame, "chat"),
        sender=_string(data, frame, "sender"),
        phone=_string(data, frame, "phone", optional=True),
        push_name=_get(data, frame, "push_name", str, type(None)),
        text=_get(data, frame, "text", str),
        timestamp=float(timestamp),
        is_group=_get(data, frame, "is_group", bool),
        mentioned=_get(data, frame, "mentioned", bool),
        reply_to_bot=_get(data, frame, "reply_to_bot", bool),
        reply_to=_string(data, frame, "reply_to", optional=True),
        media=tuple(_media(item) for item in media),
    )


def _status(data: Mapping[str, Any]) -> Status:
    try:
        state = LinkState(_get(data, "status", "state", str))
    except ValueError:
        raise ProtocolError("status frame: unknown state") from None
    return Status(state=state, detail=_get(data, "status", "detail", str))


def _error(data: Mapping[str, Any]) -> BridgeError:
    raw = _get(data, "error", "code", str)
    try:
        code = ErrorCode(raw)
    except ValueError:
        code = ErrorCode.OTHER
    return BridgeError(
        request_id=_string(data, "error", "request_id", optional=True),
        code=code,
        message=_get(data, "error", "message", str),
        raw_code="" if code is not ErrorCode.OTHER else raw[:64],
    )


_BRIDGE_DECODERS: dict[str, Callable[[Mapping[str, Any]], BridgeFrame]] = {
    "challenge": lambda d: _built(
        "challenge",
        lambda: Challenge(
            version=_version(d, "challenge"), nonce=_get(d, "challenge", "nonce", str)
        ),
    ),
    "welcome": lambda d: _built(
        "welcome",
        lambda: Welcome(version=_version(d, "welcome"), mac=_get(d, "welcome", "mac", str)),
    ),
    "message": _message,
    "status": _status,
    "qr": lambda d: (_get(d, "qr", "qr", str), Qr(png=_string(d, "qr", "png", optional=True)))[1],
    "sent": lambda d: Sent(
        request_id=_string(d, "sent", "request_id"), id=_string(d, "sent", "id")
    ),
    "media": _fetched,
    "error": _error,
}


def decode_bridge_frame(text: str) -> BridgeFrame:
    """A frame the bridge sent. Raises FrameTooLarge, UnknownFrame (a type
    this version does not know) or ProtocolError."""
    kind, data = _load(text)
    decoder = _BRIDGE_DECODERS.get(kind)
    if decoder is None:
        raise UnknownFrame("frame of an unknown type")
    return decoder(data)


_CLIENT_DECODERS: dict[str, Callable[[Mapping[str, Any]], ClientFrame]] = {
    "auth": lambda d: _built(
        "auth",
        lambda: Auth(
            version=_version(d, "auth"),
            client_nonce=_get(d, "auth", "client_nonce", str),
            mac=_get(d, "auth", "mac", str),
        ),
    ),
    "ack": lambda d: Ack(id=_string(d, "ack", "id")),
    "fetch_media": lambda d: _built(
        "fetch_media",
        lambda: FetchMedia(
            request_id=_get(d, "fetch_media", "request_id", str), id=_string(d, "fetch_media", "id")
        ),
    ),
    "send": lambda d: _built(
        "send",
        lambda: Send(
            request_id=_get(d, "send", "request_id", str),
            to=_get(d, "send", "to", str),
            text=_get(d, "send", "text", str),
            reply_to=_string(d, "send", "reply_to", optional=True),
        ),
    ),
    "send_media": lambda d: _built(
        "send_media",
        lambda: SendMedia(
            request_id=_get(d, "send_media", "request_id", str),
            to=_get(d, "send_media", "to", str),
            path=_string(d, "send_media", "path"),
            kind=_kind(d, "send_media"),
            caption=_get(d, "send_media", "caption", str, type(None)),
        ),
    ),
}


def decode_client_frame(text: str) -> ClientFrame:
    """A frame a client sent (the bridge's side; the fake bridge uses it).
    Raises FrameTooLarge, UnknownFrame or ProtocolError."""
    kind, data = _load(text)
    decoder = _CLIENT_DECODERS.get(kind)
    if decoder is None:
        raise UnknownFrame("frame of an unknown type")
    return decoder(data)


# --- encoding ----------------------------------------------------------------------


def _fields(frame: BridgeFrame | ClientFrame) -> dict[str, Any]:
    """The JSON object of `frame` (the contract's field names and values)."""
    if isinstance(frame, Challenge | Auth | Welcome):
        kind = type(frame).__name__.lower()
        return {"type": kind, **attrs.asdict(frame)}
    if isinstance(frame, Ack):
        return {"type": "ack", "id": frame.id}
    if isinstance(frame, FetchMedia):
        return {"type": "fetch_media", "request_id": frame.request_id, "id": frame.id}
    if isinstance(frame, Send):
        return {"type": "send", **attrs.asdict(frame)}
    if isinstance(frame, SendMedia):
        return {"type": "send_media", **attrs.asdict(frame), "kind": frame.kind.value}
    if isinstance(frame, BridgeMessage):
        media = [{**attrs.asdict(m), "kind": m.kind.value} for m in frame.media]
        return {"type": "message", **attrs.asdict(frame), "media": media}
    if isinstance(frame, Status):
        return {"type": "status", "state": frame.state.value, "detail": frame.detail}
    if isinstance(frame, Qr):
        return {"type": "qr", "qr": frame.payload, "png": frame.png}
    if isinstance(frame, Sent):
        return {"type": "sent", "request_id": frame.request_id, "id": frame.id}
    if isinstance(frame, FetchedMedia):
        media = [{**attrs.asdict(m), "kind": m.kind.value} for m in frame.media]
        return {"type": "media", "request_id": frame.request_id, "id": frame.id, "media": media}
    code = frame.raw_code or frame.code.value
    return {"type": "error", "request_id": frame.request_id, "code": code, "message": frame.message}


def encode_frame(frame: BridgeFrame | ClientFrame) -> str:
    """The text frame for `frame` (ASCII JSON: any string, lone surrogates
    included, survives). Raises FrameTooLarge past `MAX_FRAME_BYTES`."""
    text = json.dumps(_fields(frame), ensure_ascii=True, separators=(",", ":"))
    if len(text) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"{type(frame).__name__} frame larger than {MAX_FRAME_BYTES} bytes")
    return text
