"""Zulip chat ids: one printable word that says where every message of a conversation goes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.pairing import is_valid_id
from autobot.channels.zulip.places import (
    MAX_CHAT_ID,
    DirectTarget,
    StreamTarget,
    destination,
    direct_chat_id,
    stream_chat_id,
)

TOPICS = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


def test_direct_and_stream_chat_ids() -> None:
    assert direct_chat_id(42) == "42"
    assert destination("42", None) == DirectTarget(42)
    assert stream_chat_id(7, "lunch plans") == "stream:7:lunch%20plans"
    assert stream_chat_id(7, "50% off") == "stream:7:50%25%20off"
    assert destination("stream:7:lunch%20plans", None) == StreamTarget(7, "lunch plans")
    assert destination("stream:7:", None) == StreamTarget(7, "")


@given(stream_id=st.integers(min_value=1, max_value=10**12), topic=TOPICS)
def test_every_topic_round_trips_through_a_valid_chat_id(stream_id: int, topic: str) -> None:
    chat_id = stream_chat_id(stream_id, topic)
    assert is_valid_id(chat_id) and len(chat_id) <= MAX_CHAT_ID
    assert destination(chat_id, topic) == StreamTarget(stream_id, topic)
    if "#" not in chat_id.split(":", 2)[2][:1]:
        assert destination(chat_id, None) == StreamTarget(stream_id, topic)  # no thread needed


def test_a_topic_too_long_to_encode_is_named_by_a_digest() -> None:
    topic = "\u200b" * 60  # 60 invisible characters: 540 characters encoded
    chat_id = stream_chat_id(7, topic)
    assert chat_id.startswith("stream:7:#") and is_valid_id(chat_id)
    assert destination(chat_id, topic) == StreamTarget(7, topic)
    with pytest.raises(ValueError, match="too long"):
        destination(chat_id, None)
    with pytest.raises(ValueError, match="too long"):
        destination(chat_id, "another topic")
    # a topic that merely starts with # is encoded, never taken for a digest
    hashed = stream_chat_id(7, "#" + "a" * 32)
    assert destination(hashed, None) == StreamTarget(7, "#" + "a" * 32)


@pytest.mark.parametrize(
    "chat_id",
    [
        "",
        "0",
        "-4",
        "alice",
        "stream:",
        "stream:0:x",
        "stream:x:y",
        "stream:7:%",
        "stream:7:%zz",
        "stream:7:%C3",
        "telegram:42",
    ],
)
def test_anything_else_is_refused(chat_id: str) -> None:
    with pytest.raises(ValueError):
        destination(chat_id, None)
