"""Socket Mode frames and Events API payloads as the channel reads them (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.slack.api import BotIdentity
from autobot.channels.slack.events import (
    MAX_FILES,
    Disconnect,
    Envelope,
    Hello,
    SeenEvents,
    Unknown,
    event_id_of,
    parse_event,
    parse_frame,
    unescape,
)

BOT = BotIdentity(user_id="UBOT1", bot_id="BBOT1", team_id="T1")


def payload(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "user": "U1", "text": "hi", "ts": "1700000000.000100"}
    base.update({"channel": "D1", "channel_type": "im"})
    base.update(event)
    return {"event_id": "Ev01", "event": {k: v for k, v in base.items() if v is not None}}


def test_frames() -> None:
    assert parse_frame('{"type":"hello","num_connections":2}') == Hello(2)
    assert parse_frame('{"type":"disconnect","reason":"refresh_requested"}') == Disconnect(
        "refresh_requested"
    )
    assert parse_frame('{"type":"disconnect","reason":"x y"}') == Disconnect("unknown")
    frame = parse_frame(
        json.dumps(
            {
                "envelope_id": "abc-1",
                "type": "events_api",
                "payload": {"event_id": "Ev1"},
                "retry_attempt": 2,
                "retry_reason": "timeout",
            }
        )
    )
    assert frame == Envelope(
        envelope_id="abc-1",
        type="events_api",
        payload={"event_id": "Ev1"},
        retry_attempt=2,
        retry_reason="timeout",
    )
    assert isinstance(parse_frame("not json"), Unknown)
    assert isinstance(parse_frame("[1]"), Unknown)
    assert isinstance(parse_frame('{"type":"events_api"}'), Unknown)  # no envelope id
    assert isinstance(parse_frame('{"envelope_id":"a b"}'), Unknown)


@given(st.text())
def test_parse_frame_never_raises(text: str) -> None:
    parse_frame(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_parse_event_never_raises(value: Any) -> None:
    parse_event({"event_id": "Ev1", "event": value}, BOT)
    if isinstance(value, dict):
        parse_event(value, BOT)


def test_a_direct_message() -> None:
    event = parse_event(payload(text="a &lt;b&gt; &amp;amp; c"), BOT)
    assert event is not None
    assert (event.channel, event.user, event.text, event.is_group) == (
        "D1",
        "U1",
        "a <b> &amp; c",
        False,
    )
    assert event.reply_thread is None  # a DM is answered in the DM
    assert event.dedup_keys == ("event:Ev01", "ts:D1:1700000000.000100")


def test_a_thread_reply_in_a_dm_stays_in_its_thread() -> None:
    event = parse_event(payload(thread_ts="1699999999.000001"), BOT)
    assert event is not None and event.reply_thread == "1699999999.000001"


def test_an_app_mention_in_a_channel_is_addressed_and_threaded() -> None:
    event = parse_event(
        payload(type="app_mention", channel="C1", channel_type=None, text="<@UBOT1> hi"), BOT
    )
    assert event is not None
    assert event.is_group and event.addressed and event.kind == "app_mention"
    assert event.reply_thread == "1700000000.000100"  # a new thread under the message


@pytest.mark.parametrize(
    ("text", "addressed"),
    [("<@UBOT1> hi", True), ("hi <@UBOT1|autobot>", True), ("<@UBOT12> hi", False), ("hi", False)],
)
def test_a_channel_message_is_addressed_only_by_a_mention_of_the_bot(
    text: str, addressed: bool
) -> None:
    event = parse_event(payload(channel="C1", channel_type="channel", text=text), BOT)
    assert event is not None and event.addressed is addressed and event.is_group


@pytest.mark.parametrize(
    "changes",
    [
        {"user": "UBOT1"},  # the bot itself
        {"bot_id": "B2"},  # any bot
        {"bot_profile": {"id": "B2"}},
        {"subtype": "bot_message"},
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "thread_broadcast"},
        {"type": "reaction_added"},
        {"type": "app_home_opened"},
        {"channel_type": "app_home"},
        {"text": "   "},  # nothing to say and no file
        {"user": "u1"},  # not an id Slack issues
        {"channel": "D1/../x"},
        {"ts": "yesterday"},
        {"thread_ts": "x"},
        {"text": 5},
        {"files": "x"},
    ],
)
def test_what_the_channel_ignores(changes: dict[str, Any]) -> None:
    assert parse_event(payload(**changes), BOT) is None


def test_an_event_without_an_event_id_is_ignored() -> None:
    assert parse_event({"event": payload()["event"]}, BOT) is None
    assert event_id_of({"event_id": "Ev 1"}) is None and event_id_of({"event_id": "Ev1"}) == "Ev1"


def test_a_file_share_keeps_its_files_and_caption() -> None:
    files = [
        {
            "id": "F1",
            "name": "report.pdf",
            "mimetype": "application/PDF",
            "size": 12,
            "url_private_download": "https://files.slack.com/files-pri/T1-F1/download/report.pdf",
        },
        {"id": "F2", "name": "tombstoned"},  # no URL: not downloadable
        {"id": "F3", "name": "a\nb.txt", "url_private": "https://files.slack.com/f3", "size": -1},
    ]
    event = parse_event(payload(subtype="file_share", text="", files=files), BOT)
    assert event is not None and event.text == ""
    assert [(f.id, f.name, f.mimetype, f.size) for f in event.files] == [
        ("F1", "report.pdf", "application/pdf", 12),
        ("F3", "a b.txt", None, None),
    ]
    many = [dict(files[0], id=f"F{n}") for n in range(MAX_FILES + 5)]
    event = parse_event(payload(subtype="file_share", files=many), BOT)
    assert event is not None and len(event.files) == MAX_FILES


def test_lone_surrogates_become_replacement_characters() -> None:
    event = parse_event(payload(text="a\ud800b"), BOT)
    assert event is not None and event.text == "a\ufffdb"


def test_unescape_is_the_inverse_of_slacks_escaping() -> None:
    assert unescape("&amp;lt; &lt; &gt; &amp;") == "&lt; < > &"


def test_seen_events_is_bounded_and_forgets_the_oldest() -> None:
    seen = SeenEvents(capacity=3)
    for event_id in ("a", "b", "c", "a", "d"):
        seen.add(event_id)
    assert len(seen) == 3
    assert "b" not in seen and all(e in seen for e in ("a", "c", "d"))
    with pytest.raises(ValueError, match="capacity"):
        SeenEvents(capacity=0)
