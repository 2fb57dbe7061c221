"""`parse_update`: every rule, on messages built by the Bot API fake's own
chat state (message ids, topics, replies) and entity finder (UTF-16 spans),
so the parser is checked against an independent implementation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.channels.base import AttachmentKind
from autobot.channels.telegram.api import BotIdentity
from autobot.channels.telegram.updates import MediaRef, TelegramEvent, parse_update
from autobot.testing.telegram.chats import ChatBook
from autobot.testing.telegram.entities import Entity, FormattedText, find_entities, utf16_len
from autobot.testing.telegram.objects import TelegramChat, TelegramUser

BOT = BotIdentity(id=777, username="Autobot_Test_Bot")
BOT_USER = TelegramUser(id=777, first_name="Autobot", username="Autobot_Test_Bot", is_bot=True)
ALICE = TelegramUser(id=1001, first_name="Alice", last_name="Liddell", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob")
OTHER_BOT = TelegramUser(id=888, first_name="Other", username="other_bot", is_bot=True)
GROUP = TelegramChat(id=-500, type="group", title="Friends")
FORUM = TelegramChat(id=-1002000, type="supergroup", title="Forum", is_forum=True)
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 8 UTF-16 code units, 5 code points


class Chats:
    """Messages as the fake stores them, numbered per chat, and their updates."""

    def __init__(self) -> None:
        self.book = ChatBook()
        self.next_update = 700_000_001

    def text(
        self,
        sender: TelegramUser,
        text: str,
        *,
        chat: TelegramChat | None = None,
        entities: tuple[Entity, ...] | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        found = find_entities(text) if entities is None else entities
        content = FormattedText(text=text, entities=found).fields("text", "entities")
        return self.message(sender, content, chat=chat, thread_id=thread_id, reply_to=reply_to)

    def message(
        self,
        sender: TelegramUser,
        content: dict[str, Any],
        *,
        chat: TelegramChat | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        state = self.book.add(chat or TelegramChat.private(sender))
        return state.new_message(
            sender=sender, date=0, content=content, thread_id=thread_id, reply_to=reply_to
        )

    def update(self, message: dict[str, Any], kind: str = "message") -> dict[str, Any]:
        self.next_update += 1
        return {"update_id": self.next_update - 1, kind: message}


def parsed(update: dict[str, Any], bot: BotIdentity = BOT) -> TelegramEvent:
    event = parse_update(update, bot)
    assert event is not None
    return event


def test_a_private_text_message_becomes_an_event_with_every_field() -> None:
    chats = Chats()
    event = parsed(chats.update(chats.text(ALICE, "hello there")))
    assert event == TelegramEvent(
        update_id=700_000_001,
        chat_id="1001",
        chat_type="private",
        thread_id=None,
        message_id=1,
        sender_id="1001",
        username="alice",
        display_name="Alice Liddell",
        text="hello there",
        addressed=False,
        command=None,
        reply_to=None,
        media=None,
    )
    assert not event.is_group
    assert event.dedup_keys == ("update:700000001", "msg:1001:1")


@pytest.mark.parametrize("handle", ["@Autobot_Test_Bot", "@autobot_test_bot", "@AUTOBOT_TEST_BOT"])
def test_a_mention_after_emoji_addresses_the_bot_in_any_case(handle: str) -> None:
    chats = Chats()
    text = f"{FAMILY} 😀 hey {handle}, look"
    message = chats.text(ALICE, text, chat=GROUP)
    [mention] = message["entities"]
    assert mention["offset"] == utf16_len(f"{FAMILY} 😀 hey ") != text.index("@")
    event = parsed(chats.update(message))
    assert (event.chat_id, event.chat_type, event.is_group, event.addressed) == (
        "-500",
        "group",
        True,
        True,
    )
    assert event.dedup_keys == ("update:700000001", "msg:-500:1")


def test_a_span_counted_in_code_points_instead_of_utf16_misses() -> None:
    chats = Chats()
    text = f"😀 @{BOT.username}"
    wrong = Entity(type="mention", offset=text.index("@"), length=len(BOT.username) + 1)
    assert not parsed(
        chats.update(chats.text(ALICE, text, chat=GROUP, entities=(wrong,)))
    ).addressed


@pytest.mark.parametrize(
    "text",
    [
        "hi @Autobot_Test_Bot2",  # a longer name is another account
        "hi @other_bot",
        "mail me at x@Autobot_Test_Bot",  # no entity: not a mention
        "hi Autobot_Test_Bot",
        "/help@other_bot",
    ],
)
def test_other_names_do_not_address_the_bot(text: str) -> None:
    chats = Chats()
    assert not parsed(chats.update(chats.text(ALICE, text, chat=GROUP))).addressed


def test_a_mention_entity_is_only_compared_in_ascii() -> None:
    kelvin_bot = BotIdentity(id=9, username="kelvin_bot")
    chats = Chats()
    text = "@\u212aelvin_bot"  # KELVIN SIGN lower-cases to "k"
    entity = Entity(type="mention", offset=0, length=utf16_len(text))
    event = parsed(
        chats.update(chats.text(ALICE, text, chat=GROUP, entities=(entity,))), kelvin_bot
    )
    assert not event.addressed


def test_a_text_mention_of_the_bot_addresses_it_but_not_of_someone_else() -> None:
    chats = Chats()
    to_bot = Entity(type="text_mention", offset=0, length=5, user=BOT_USER)
    to_bob = Entity(type="text_mention", offset=0, length=5, user=BOB)
    first = chats.text(ALICE, "Robot, hi", chat=GROUP, entities=(to_bot,))
    second = chats.text(ALICE, "Bobby, hi", chat=GROUP, entities=(to_bob,))
    assert parsed(chats.update(first)).addressed
    assert not parsed(chats.update(second)).addressed


def test_a_reply_to_the_bot_addresses_it_a_reply_to_someone_else_does_not() -> None:
    chats = Chats()
    bots = chats.text(BOT_USER, "I am the bot", chat=GROUP)
    bobs = chats.text(BOB, "I am Bob", chat=GROUP)
    to_bot = parsed(chats.update(chats.text(ALICE, "yes", chat=GROUP, reply_to=bots["message_id"])))
    to_bob = parsed(chats.update(chats.text(ALICE, "no", chat=GROUP, reply_to=bobs["message_id"])))
    assert (to_bot.reply_to, to_bot.addressed) == (bots["message_id"], True)
    assert (to_bob.reply_to, to_bob.addressed) == (bobs["message_id"], False)


def test_forum_topics_keep_their_thread_and_the_opening_message_is_no_reply() -> None:
    chats = Chats()
    state = chats.book.add(FORUM)
    topic = state.open_topic(name="ideas", creator=BOT_USER, date=0)  # the bot opened it
    plain = parsed(chats.update(chats.text(ALICE, "an idea", chat=FORUM, thread_id=topic)))
    bots = chats.text(BOT_USER, "noted", chat=FORUM, thread_id=topic)
    reply = chats.text(ALICE, "thanks", chat=FORUM, thread_id=topic, reply_to=bots["message_id"])
    answered = parsed(chats.update(reply))
    assert (plain.thread_id, plain.reply_to, plain.addressed) == (topic, None, False)
    assert (answered.thread_id, answered.reply_to, answered.addressed) == (
        topic,
        bots["message_id"],
        True,
    )


def test_a_thread_id_without_is_topic_message_is_no_topic() -> None:
    chats = Chats()
    message = chats.text(ALICE, "in a reply thread", chat=FORUM)
    message["message_thread_id"] = 42  # supergroup reply threads carry one too
    assert parsed(chats.update(message)).thread_id is None


@pytest.mark.parametrize(
    ("text", "chat", "command", "addressed"),
    [
        ("/start", None, "start", False),
        ("/start payload", None, "start", False),
        ("/Reset@autobot_test_bot", GROUP, "reset", True),
        ("/help@other_bot", GROUP, None, False),
        ("/help", GROUP, "help", False),
        ("hello /start@Autobot_Test_Bot", GROUP, None, True),
        ("/start@other_bot @autobot_test_bot", GROUP, None, True),
        (f"{FAMILY} /start", None, None, False),
    ],
)
def test_commands_are_ours_only_without_a_suffix_or_with_ours(
    text: str, chat: TelegramChat | None, command: str | None, addressed: bool
) -> None:
    chats = Chats()
    event = parsed(chats.update(chats.text(ALICE, text, chat=chat)))
    assert (event.command, event.addressed, event.text) == (command, addressed, text)


def test_a_photo_brings_its_largest_size_and_its_caption() -> None:
    chats = Chats()
    caption = f"{FAMILY} for @autobot_test_bot"
    sizes = [
        {"file_id": "small", "file_unique_id": "s", "file_size": 100, "width": 90, "height": 60},
        {
            "file_id": "large",
            "file_unique_id": "l",
            "file_size": 9000,
            "width": 1280,
            "height": 853,
        },
        {"file_id": "medium", "file_unique_id": "m", "file_size": 900, "width": 320, "height": 213},
    ]
    content = {
        "photo": sizes,
        **FormattedText(text=caption, entities=find_entities(caption)).fields(
            "caption", "caption_entities"
        ),
    }
    event = parsed(chats.update(chats.message(ALICE, content, chat=GROUP)))
    assert event.media == MediaRef(kind=AttachmentKind.PHOTO, file_id="large", size=9000)
    assert (event.text, event.addressed) == (caption, True)


def test_documents_and_voice_notes_bring_their_details() -> None:
    chats = Chats()
    document = {
        "document": {
            "file_id": "doc",
            "file_unique_id": "d",
            "file_size": 1234,
            "file_name": "report.pdf",
            "mime_type": "application/pdf",
        }
    }
    voice = {
        "voice": {"file_id": "v", "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg"}
    }
    doc_event = parsed(chats.update(chats.message(ALICE, document)))
    voice_event = parsed(chats.update(chats.message(ALICE, voice)))
    assert doc_event.media == MediaRef(
        kind=AttachmentKind.DOCUMENT,
        file_id="doc",
        size=1234,
        file_name="report.pdf",
        mime_type="application/pdf",
    )
    assert doc_event.text == ""
    assert voice_event.media == MediaRef(
        kind=AttachmentKind.VOICE, file_id="v", size=None, mime_type="audio/ogg", duration=3
    )


def test_what_is_not_passed_on_is_none() -> None:
    chats = Chats()
    text = chats.text(ALICE, "hi")
    from_bot = chats.text(OTHER_BOT, "beep", chat=GROUP)
    sticker = chats.message(ALICE, {"sticker": {"file_id": "x", "type": "regular"}})
    joined = chats.message(ALICE, {"new_chat_members": [BOB.to_api()]}, chat=GROUP)
    state = chats.book.add(FORUM)
    topic = state.open_topic(name="t", creator=ALICE, date=0)
    opened = state.messages[topic]
    channel = {**text, "chat": {"id": -100999, "type": "channel", "title": "News"}}
    anonymous = {key: value for key, value in text.items() if key != "from"}
    for update in [
        chats.update(text, kind="edited_message"),
        chats.update(text, kind="callback_query"),
        chats.update(from_bot),
        chats.update(sticker),
        chats.update(joined),
        chats.update(opened),
        chats.update(channel),
        chats.update(anonymous),
    ]:
        assert parse_update(update, BOT) is None, update


def _with(value: Any, path: tuple[str | int, ...], replacement: Any) -> Any:
    """A copy of `value` with the part at `path` replaced (or added, at the end)."""
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        copied = list(value)
        copied[int(head)] = _with(copied[int(head)], rest, replacement)
        return copied
    return {**value, head: _with(value.get(head), rest, replacement)}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("update_id",), "1"),
        (("update_id",), True),
        (("message",), []),
        (("message", "chat", "id"), None),
        (("message", "chat", "id"), 1.5),
        (("message", "from", "is_bot"), "false"),
        (("message", "from", "first_name"), None),
        (("message", "message_id"), "1"),
        (("message", "text"), 5),
        (("message", "entities"), {}),
        (("message", "entities", 0, "offset"), "0"),
        (("message", "entities", 0), "mention"),
        (("message", "reply_to_message"), "yes"),
        (("message", "is_topic_message"), 1),
    ],
)
def test_malformed_updates_are_none(path: tuple[str | int, ...], value: Any) -> None:
    chats = Chats()
    bots = chats.text(BOT_USER, "hi", chat=GROUP)
    update = chats.update(
        chats.text(ALICE, "@autobot_test_bot x", chat=GROUP, reply_to=bots["message_id"])
    )
    assert parse_update(update, BOT) is not None
    assert parse_update(_with(update, path, value), BOT) is None


@pytest.mark.parametrize(
    "media",
    [
        {"photo": []},
        {"photo": [{"file_id": "x", "width": 1}]},
        {"document": {"file_id": ""}},
        {"document": {"file_id": "x", "file_size": -1}},
        {"voice": {"file_id": "x"}},  # a voice note always has a duration
    ],
)
def test_malformed_media_make_the_update_none(media: dict[str, Any]) -> None:
    chats = Chats()
    assert parse_update(chats.update(chats.message(ALICE, media)), BOT) is None


def test_names_become_one_printable_line_and_text_valid_utf16() -> None:
    chats = Chats()
    sneaky = TelegramUser(id=1003, first_name="Eve\u202e\nrm -rf", last_name="x" * 100)
    nameless = TelegramUser(id=1004, first_name="\u200b", username="nobody")
    bare = TelegramUser(id=1005, first_name="\n")
    family = TelegramUser(id=1006, first_name=f"{FAMILY} Family")
    names = [
        parsed(chats.update(chats.text(user, "hi"))).display_name
        for user in (sneaky, nameless, bare, family)
    ]
    assert names == [("Eve rm -rf " + "x" * 100)[:64], "@nobody", "1005", f"{FAMILY} Family"]
    lone = chats.text(ALICE, "ok", entities=())
    lone["text"] = "a\ud83db"
    assert parsed(chats.update(lone)).text == "a\ufffdb"


# ---- properties -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            [
                "update_id", "message", "from", "chat", "id", "type", "is_bot", "text",
                "entities", "offset", "length", "user", "photo", "document", "voice",
                "file_id", "caption", "reply_to_message", "message_thread_id",
                "is_topic_message", "first_name", "width", "height", "duration", "message_id",
            ]
        )
        | st.text(max_size=5),
        children,
        max_size=6,
    ),
    max_leaves=30,
)  # fmt: skip


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=4) | json_values)
def test_never_raises_on_arbitrary_json(update: Any) -> None:
    result = parse_update(update, BOT)
    assert result is None or isinstance(result, TelegramEvent)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@given(st.data())
def test_never_raises_when_any_part_of_a_real_update_is_replaced(data: st.DataObject) -> None:
    chats = Chats()
    bots = chats.text(BOT_USER, "hi", chat=GROUP)
    update = chats.update(
        chats.text(
            ALICE, f"{FAMILY} /go@x @autobot_test_bot", chat=GROUP, reply_to=bots["message_id"]
        )
    )
    path = data.draw(st.sampled_from(_paths(update)[1:]))
    result = parse_update(_with(update, path, data.draw(json_values)), BOT)
    assert result is None or isinstance(result, TelegramEvent)


@given(
    prefix=st.lists(
        st.characters(exclude_categories=["Cs"]) | st.sampled_from(["😀", FAMILY, "中", "\n"]),
        max_size=20,
    ).map("".join),
    suffix=st.text(max_size=10),
)
def test_a_mention_is_found_exactly_at_its_utf16_span(prefix: str, suffix: str) -> None:
    text = f"{prefix} @{BOT.username} {suffix}"
    start = utf16_len(prefix) + 1
    length = len(BOT.username) + 1
    chats = Chats()
    exact = Entity(type="mention", offset=start, length=length)
    shifted = Entity(type="mention", offset=start - 1, length=length)
    assert parsed(chats.update(chats.text(ALICE, text, chat=GROUP, entities=(exact,)))).addressed
    assert not parsed(
        chats.update(chats.text(ALICE, text, chat=GROUP, entities=(shifted,)))
    ).addressed
