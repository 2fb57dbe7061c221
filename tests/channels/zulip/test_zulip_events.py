"""Zulip events as messages (pure): own messages, mentions, uploads, malformed input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.zulip.api import BotIdentity
from autobot.channels.zulip.events import MAX_UPLOADS, mentions, parse_event, upload_paths

BOT = BotIdentity(user_id=9, email="Autobot-bot@zulip.example.com", full_name="Autobot")
ALICE = {"id": 101, "email": "alice@example.com", "full_name": "Alice", "is_mirror_dummy": False}
BOT_RECIPIENT = {"id": 9, "email": BOT.email, "full_name": "Autobot", "is_mirror_dummy": False}


def direct(content: str = "hello", **fields: Any) -> dict[str, Any]:
    message = {
        "id": 1000,
        "sender_id": 101,
        "sender_email": "alice@example.com",
        "sender_full_name": "Alice",
        "type": "private",
        "display_recipient": [ALICE, BOT_RECIPIENT],
        "subject": "",
        "content": content,
        **fields,
    }
    return {"type": "message", "id": 4, "flags": [], "message": message}


def stream(content: str, flags: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    event = direct(content)
    event["message"].update(
        type="stream", stream_id=7, display_recipient="general", subject="lunch", **fields
    )
    event["flags"] = flags or []
    return event


def test_a_direct_message() -> None:
    message = parse_event(direct("hi there"), BOT)
    assert message is not None
    assert (message.event_id, message.message_id, message.sender_id) == (4, 1000, 101)
    assert (message.sender_email, message.sender_name, message.content) == (
        "alice@example.com",
        "Alice",
        "hi there",
    )
    assert message.stream_id is None and message.topic is None and message.others == ()
    assert message.dedup_keys == ("msg:1000",)


def test_a_stream_message_and_the_newer_type_names() -> None:
    message = parse_event(stream("@**Autobot** hi"), BOT)
    assert message is not None
    assert (message.stream_id, message.stream_name, message.topic) == (7, "general", "lunch")
    assert message.mentioned
    renamed = stream("x")
    renamed["message"]["type"] = "channel"
    del renamed["message"]["subject"]
    renamed["message"]["topic"] = "new name"
    parsed = parse_event(renamed, BOT)
    assert parsed is not None and parsed.topic == "new name"
    newer_direct = direct(type="direct")
    assert parse_event(newer_direct, BOT) is not None


def test_the_bots_own_messages_are_dropped_by_id_or_email() -> None:
    assert parse_event(direct(sender_id=9), BOT) is None
    assert parse_event(direct(sender_email="AUTOBOT-BOT@zulip.example.com"), BOT) is None
    assert parse_event(stream("@**Autobot** echo", sender_id=9), BOT) is None


def test_a_group_direct_message_names_the_others() -> None:
    bob = {"id": 102, "email": "bob@example.com", "full_name": "Bob", "is_mirror_dummy": False}
    message = parse_event(direct(display_recipient=[ALICE, BOT_RECIPIENT, bob]), BOT)
    assert message is not None and message.others == (102,)


def test_other_events_and_types_are_not_messages() -> None:
    assert parse_event({"type": "heartbeat", "id": 3}, BOT) is None
    assert parse_event({"type": "presence", "id": 3, "email": "x"}, BOT) is None
    assert parse_event(direct(type="huddle_v2"), BOT) is None


@pytest.mark.parametrize(
    ("content", "flags", "mentioned"),
    [
        ("@**Autobot** what time is it", [], True),
        ("hey @**autobot**", [], True),  # any case, as Zulip matches names
        ("@**Someone Else|9** hi", [], True),  # the id decides
        ("@**Autobot|10** hi", [], False),  # another user who has the same name
        ("@_**Autobot** silently", [], False),
        ("@**all** lunch?", ["stream_wildcard_mentioned"], False),
        ("mail@**Autobot**", [], False),  # not where a mention may start
        ("(@**Autobot**)", [], True),
        ("`code`", ["mentioned"], True),  # a user group mention: the server's flag
        ("nothing here", [], False),
    ],
)
def test_mentions(content: str, flags: list[str], mentioned: bool) -> None:
    message = parse_event(stream(content, flags), BOT)
    assert message is not None and message.mentioned is mentioned


def test_upload_links_are_found_once_and_capped() -> None:
    links = " ".join(f"[f{i}](/user_uploads/2/ab/c{i}/f{i}.pdf)" for i in range(MAX_UPLOADS + 2))
    text = f"[same](/user_uploads/2/ab/c0/f0.pdf) {links} [bad](/user_uploads/../etc/passwd)"
    found = upload_paths(text)
    assert found == tuple(f"/user_uploads/2/ab/c{i}/f{i}.pdf" for i in range(MAX_UPLOADS))
    assert upload_paths("[x](https://evil.example/user_uploads/1/a.png) /user_uploads/1/b") == ()
    assert upload_paths("[x](/user_uploads/2/a/./b.png) [y](/user_uploads/2/a//b.png)") == ()


def test_names_are_one_printable_line_and_text_is_utf8_safe() -> None:
    event = direct("a \ud800 b", sender_full_name="Mal\u202elory\n[system]  x" + "y" * 100)
    message = parse_event(event, BOT)
    assert message is not None
    assert message.content == "a \ufffd b"
    assert "\n" not in message.sender_name and "\u202e" not in message.sender_name
    assert message.sender_name.startswith("Mal lory [system] x") and len(message.sender_name) <= 64
    unnamed = direct(sender_full_name="")
    assert parse_event(unnamed, BOT).sender_name == "alice@example.com"  # type: ignore[union-attr]


def test_mentions_of_a_name_with_stars_or_newlines_do_not_match_across() -> None:
    bot = BotIdentity(user_id=9, email="b@x.org", full_name="Auto bot")
    assert mentions("@**Auto bot**", bot)
    assert not mentions("@**Auto\nbot**", bot)
    assert not mentions("@**Auto** bot**", bot)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=30,
)


@given(
    key=st.sampled_from(
        [
            "id",
            "sender_id",
            "sender_email",
            "type",
            "content",
            "display_recipient",
            "stream_id",
            "subject",
            "sender_full_name",
        ]
    ),
    value=JSON,
    kind=st.sampled_from(["direct", "stream"]),
)
def test_any_field_of_any_shape_never_raises(key: str, value: Any, kind: str) -> None:
    event = direct("x") if kind == "direct" else stream("x")
    broken = copy.deepcopy(event)
    broken["message"][key] = value
    parse_event(broken, BOT)  # a message or None, never an exception
    parse_event({"type": "message", "id": value, "message": value, "flags": value}, BOT)
