"""A voice note's transcript in the inbound journal: kept across a replay,
absent from entries written before transcripts existed, strictly typed."""

from __future__ import annotations

from typing import Any

import pytest

from autobot.channels.base import Attachment, AttachmentKind, InboundMessage
from autobot.channels.inbound_journal import decode_inbound, encode_inbound

VOICE = Attachment(
    kind=AttachmentKind.VOICE,
    path="inbox/telegram-42-7-voice.ogg",
    mime_type="audio/ogg",
    size=10,
    transcript="buy milk",
)


def message(*attachments: Attachment) -> InboundMessage:
    return InboundMessage(channel="telegram", chat_id="42", content="", attachments=attachments)


def test_a_transcript_survives_the_journal() -> None:
    original = message(VOICE)
    encoded = encode_inbound(original)
    assert encoded["attachments"][0]["transcript"] == "buy milk"
    assert decode_inbound(encoded, "j1") == InboundMessage(
        channel="telegram", chat_id="42", content="", attachments=(VOICE,), journal_id="j1"
    )


def test_no_transcript_is_written_as_the_older_shape() -> None:
    untranscribed = Attachment(kind=AttachmentKind.VOICE, path="inbox/v.ogg")
    encoded = encode_inbound(message(untranscribed))
    assert encoded["attachments"] == [
        {"kind": "voice", "path": "inbox/v.ogg", "mime_type": "", "size": 0}
    ]
    assert decode_inbound(encoded, None).attachments == (untranscribed,)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"transcript": None}, "transcript is not of type str"),
        ({"transcript": 5}, "transcript is not of type str"),
        ({"transcript": "x", "language": "en"}, "attachment has missing or unknown fields"),
    ],
)
def test_a_malformed_transcript_is_refused(change: dict[str, Any], problem: str) -> None:
    encoded = encode_inbound(message(VOICE))
    encoded["attachments"][0].update(change)
    with pytest.raises(ValueError, match=problem):
        decode_inbound(encoded, None)
