"""The Telegram Bot API fake's sending side and user helpers, through plain httpx:
UTF-16 entities, parse modes, limits, chats, topics, replies, uploads, files."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio

from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.telegram.entities import Entity, EntityError, find_entities, span_of
from autobot.testing.telegram.objects import TelegramChat, TelegramUser

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob")
GROUP = TelegramChat(id=-4001, type="group", title="Friends")
FORUM = TelegramChat(id=-1004002, type="supergroup", title="Team", is_forum=True, username="team")


async def send(
    client: httpx.AsyncClient, fake: FakeTelegram, method: str = "sendMessage", **arguments: Any
) -> httpx.Response:
    return await client.post(f"{fake.api_url}/{method}", json=arguments)


def refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["error_code"] == status
    return str(body["description"])


async def test_entities_are_counted_in_utf16_and_recorded_as_the_user_sees_them() -> None:
    text = "😀 hello 👋 world"
    offset, length = span_of(text, "hello")
    assert (offset, length) == (3, 5)  # the emoji before it is two UTF-16 units
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        answer = await send(
            client,
            fake,
            chat_id=ALICE.id,
            text=text,
            entities=[
                {"type": "bold", "offset": 3, "length": 5},
                {"type": "text_link", "offset": 12, "length": 5, "url": "https://example.org"},
            ],
        )
    assert answer.status_code == 200, answer.text
    [sent] = fake.sent
    assert sent.text == text
    assert [(e.type, e.covered(text)) for e in sent.entities] == [
        ("bold", "hello"),
        ("text_link", "world"),
    ]
    assert answer.json()["result"]["entities"][1] == {
        "type": "text_link",
        "offset": 12,
        "length": 5,
        "url": "https://example.org",
    }


@pytest.mark.parametrize(
    ("entity", "detail"),
    [
        (
            {"type": "bold", "offset": 1, "length": 2},
            "Entity begins in a middle of a UTF-16 symbol at UTF-16 offset 1",
        ),
        (
            {"type": "bold", "offset": 0, "length": 1},
            "Entity beginning at UTF-16 offset 0 ends in a middle of a UTF-16 symbol at UTF-16 offset 1",
        ),
        (
            {"type": "italic", "offset": 3, "length": 15},
            "Entity beginning at UTF-16 offset 3 ends after the end of the text at UTF-16 offset 18",
        ),
        (
            {"type": "italic", "offset": 20, "length": 1},
            "Entity begins after the end of the text at UTF-16 offset 20",
        ),
        (
            {"type": "sparkle", "offset": 0, "length": 2},
            'entity 0: unsupported entity type "sparkle"',
        ),
        (
            {"type": "text_link", "offset": 0, "length": 2},
            'entity 0: field "url" must be a non-empty String',
        ),
        (
            {"type": "bold", "offset": "0", "length": 2},
            'entity 0: field "offset" must be an Integer',
        ),
        ({"type": "bold", "offset": -1, "length": 2}, "Receive an entity with incorrect offset -1"),
    ],
)
async def test_bad_entities_are_refused_and_change_nothing(
    entity: dict[str, Any], detail: str
) -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        answer = await send(
            client, fake, chat_id=ALICE.id, text="😀 hello 👋 world", entities=[entity]
        )
        next_id = fake.chats.chats[ALICE.id].next_message_id
    assert refused(answer) == f"Bad Request: can't parse entities: {detail}"
    assert fake.sent == []
    assert next_id == 2


async def test_entities_sent_as_form_json_text_are_read_too() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        entities = json.dumps([{"type": "code", "offset": 4, "length": 2}])
        answer = await client.post(
            f"{fake.api_url}/sendMessage",
            data={"chat_id": str(ALICE.id), "text": "run ls now", "entities": entities},
        )
    assert answer.status_code == 200
    assert fake.sent[0].entities == (Entity(type="code", offset=4, length=2),)


async def test_html_is_parsed_into_text_and_entities_or_refused() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        good = await send(
            client,
            fake,
            chat_id=ALICE.id,
            parse_mode="HTML",
            text='<b>Tip</b>: use <code>a &lt; b</code> or <a href="https://x.org">docs</a> 😀',
        )
        broken = await send(
            client, fake, chat_id=ALICE.id, parse_mode="HTML", text="if a <x> b: <b>bold</i>"
        )
        unescaped = await send(client, fake, chat_id=ALICE.id, parse_mode="HTML", text="1 < 2")
        unknown_mode = await send(client, fake, chat_id=ALICE.id, parse_mode="BBCode", text="x")
    assert good.status_code == 200
    [sent] = fake.sent
    assert sent.text == "Tip: use a < b or docs 😀"
    assert sent.parse_mode == "HTML"
    assert [(e.type, e.covered(sent.text), e.url) for e in sent.entities] == [
        ("bold", "Tip", None),
        ("code", "a < b", None),
        ("text_link", "docs", "https://x.org"),
    ]
    assert refused(broken) == (
        'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 5'
    )
    assert refused(unescaped) == (
        'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'
    )
    assert refused(unknown_mode) == "Bad Request: unsupported parse_mode"


async def test_markdown_v2_is_parsed_or_refused() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        good = await send(
            client, fake, chat_id=ALICE.id, parse_mode="MarkdownV2", text="*Done*\\. See `ls`"
        )
        bad = await send(client, fake, chat_id=ALICE.id, parse_mode="MarkdownV2", text="Done.")
    assert good.status_code == 200
    assert fake.sent[0].text == "Done. See ls"
    assert [(e.type, e.offset, e.length) for e in fake.sent[0].entities] == [
        ("bold", 0, 4),
        ("code", 10, 2),
    ]
    assert refused(bad) == (
        "Bad Request: can't parse entities: Character '.' is reserved and must be "
        "escaped with the preceding '\\'"
    )


async def test_text_length_is_counted_in_utf16_after_parsing() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        fits = await send(client, fake, chat_id=ALICE.id, text="😀" * 2048)  # 4096 units
        too_long = await send(client, fake, chat_id=ALICE.id, text="😀" * 2048 + "!")
        markup_fits = await send(
            client, fake, chat_id=ALICE.id, parse_mode="HTML", text="<b>" + "a" * 4096 + "</b>"
        )
        empty = await send(client, fake, chat_id=ALICE.id, text="")
        blank = await send(client, fake, chat_id=ALICE.id, parse_mode="HTML", text="<b> </b>\n")
    assert fits.status_code == 200
    assert refused(too_long) == "Bad Request: message is too long"
    assert markup_fits.status_code == 200
    assert refused(empty) == "Bad Request: message text is empty"
    assert refused(blank) == "Bad Request: message text is empty"
    assert len(fake.sent) == 2


async def test_unknown_and_blocked_chats() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        fake.post_text(BOB, "hello", chat=FORUM)
        unknown = await send(client, fake, chat_id=999, text="x")
        not_a_number = await send(client, fake, chat_id="abc", text="x")
        missing = await send(client, fake, text="x")
        by_username = await send(client, fake, chat_id="@Team", text="to the group")
        private_username = await send(client, fake, chat_id="@alice", text="x")
        fake.block_bot(ALICE)
        blocked = await send(client, fake, chat_id=ALICE.id, text="x")
        blocked_typing = await send(
            client, fake, "sendChatAction", chat_id=ALICE.id, action="typing"
        )
        fake.block_bot(ALICE, blocked=False)
        unblocked = await send(client, fake, chat_id=ALICE.id, text="welcome back")
    assert refused(unknown) == "Bad Request: chat not found"
    assert refused(not_a_number) == "Bad Request: chat not found"
    assert refused(missing) == "Bad Request: chat_id is empty"
    assert by_username.json()["result"]["chat"]["id"] == FORUM.id
    assert refused(private_username) == "Bad Request: chat not found"
    assert blocked.json() == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    assert refused(blocked_typing, 403) == "Forbidden: bot was blocked by the user"
    assert unblocked.status_code == 200
    assert [m.text for m in fake.sent] == ["to the group", "welcome back"]


async def test_threads_only_in_forum_topics_and_replies_to_known_messages() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        topic = fake.open_topic(FORUM, "Releases", creator=BOB)
        question = fake.post_text(BOB, "when?", chat=FORUM, thread_id=topic)
        fake.post_text(ALICE, "hi all", chat=GROUP)
        in_topic = await send(
            client,
            fake,
            chat_id=FORUM.id,
            text="soon",
            message_thread_id=topic,
            reply_parameters={"message_id": question["message_id"]},
        )
        unknown_topic = await send(client, fake, chat_id=FORUM.id, text="x", message_thread_id=77)
        not_a_forum = await send(client, fake, chat_id=GROUP.id, text="x", message_thread_id=1)
        lost_reply = await send(client, fake, chat_id=GROUP.id, text="x", reply_to_message_id=50)
        without_reply = await send(
            client,
            fake,
            chat_id=GROUP.id,
            text="anyway",
            reply_parameters={"message_id": 50, "allow_sending_without_reply": True},
        )
        legacy_reply = await send(client, fake, chat_id=GROUP.id, text="re", reply_to_message_id=1)
    result = in_topic.json()["result"]
    assert (result["message_thread_id"], result["is_topic_message"]) == (topic, True)
    assert result["reply_to_message"]["text"] == "when?"
    assert "reply_to_message" not in result["reply_to_message"]  # one level deep only
    assert result["from"]["id"] == fake.bot.id
    assert refused(unknown_topic) == "Bad Request: message thread not found"
    assert refused(not_a_forum) == "Bad Request: message thread not found"
    assert refused(lost_reply) == "Bad Request: message to be replied not found"
    assert "reply_to_message" not in without_reply.json()["result"]
    assert legacy_reply.json()["result"]["reply_to_message"]["text"] == "hi all"
    assert [(m.text, m.thread_id, m.reply_to_message_id) for m in fake.sent] == [
        ("soon", topic, question["message_id"]),
        ("anyway", None, None),
        ("re", None, 1),
    ]


async def test_chat_actions_are_recorded_with_their_time(autojump_clock: trio.abc.Clock) -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        topic = fake.open_topic(FORUM, "General chat", creator=BOB)
        fake.post_text(ALICE, "hi")
        await send(client, fake, "sendChatAction", chat_id=ALICE.id, action="typing")
        await trio.sleep(4)
        await send(
            client,
            fake,
            "sendChatAction",
            chat_id=FORUM.id,
            action="upload_photo",
            message_thread_id=topic,
        )
        wrong = await send(client, fake, "sendChatAction", chat_id=ALICE.id, action="dancing")
    assert [(a.chat_id, a.action, a.thread_id, a.at) for a in fake.chat_actions] == [
        (ALICE.id, "typing", None, 0),
        (FORUM.id, "upload_photo", topic, 4),
    ]
    assert refused(wrong) == "Bad Request: wrong parameter action in request"


async def test_multipart_uploads_are_recorded_byte_for_byte_and_downloadable() -> None:
    photo_bytes = b"\x89PNG\r\n\x1a\n\0\r\n--boundary-lookalike\r\n\0" * 100
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "send me the chart")
        photo = await client.post(
            f"{fake.api_url}/sendPhoto",
            data={"chat_id": str(ALICE.id), "caption": "<b>Chart</b> 📈", "parse_mode": "HTML"},
            files={"photo": ("chart.png", photo_bytes, "image/png")},
        )
        document = await client.post(
            f"{fake.api_url}/sendDocument",
            data={"chat_id": str(ALICE.id)},
            files={"document": ("notes.txt", b"line 1\nline 2\n", "text/plain")},
        )
        voice = await client.post(
            f"{fake.api_url}/sendVoice",
            data={"chat_id": str(ALICE.id), "duration": "3"},
            files={"voice": ("note.ogg", b"OggS\0voice", "audio/ogg")},
        )
        again = await send(
            client,
            fake,
            "sendPhoto",
            chat_id=ALICE.id,
            photo=photo.json()["result"]["photo"][0]["file_id"],
        )
        file_id = photo.json()["result"]["photo"][-1]["file_id"]
        got = (await send(client, fake, "getFile", file_id=file_id)).json()["result"]
        downloaded = await client.get(f"{fake.base_url}/file/bot{fake.token}/{got['file_path']}")
    assert [m.method for m in fake.sent] == ["sendPhoto", "sendDocument", "sendVoice", "sendPhoto"]
    sent_photo = fake.sent[0]
    assert sent_photo.upload is not None and sent_photo.upload.content == photo_bytes
    assert (sent_photo.upload.file_name, sent_photo.upload.content_type) == (
        "chart.png",
        "image/png",
    )
    assert sent_photo.text == "Chart 📈"
    assert [(e.type, e.covered(sent_photo.text)) for e in sent_photo.entities] == [
        ("bold", "Chart")
    ]
    assert photo.json()["result"]["caption"] == "Chart 📈"
    assert document.json()["result"]["document"]["file_name"] == "notes.txt"
    assert document.json()["result"]["document"]["mime_type"] == "text/plain"
    assert voice.json()["result"]["voice"]["duration"] == 3
    assert again.status_code == 200 and fake.sent[3].upload is None
    assert got["file_size"] == len(photo_bytes)
    assert downloaded.content == photo_bytes


async def test_media_without_a_file_or_with_a_long_caption_is_refused() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        no_file = await send(client, fake, "sendPhoto", chat_id=ALICE.id)
        unknown_id = await send(client, fake, "sendDocument", chat_id=ALICE.id, document="nope")
        by_url = await send(
            client, fake, "sendPhoto", chat_id=ALICE.id, photo="https://x.org/a.jpg"
        )
        long_caption = await client.post(
            f"{fake.api_url}/sendPhoto",
            data={"chat_id": str(ALICE.id), "caption": "😀" * 512 + "!"},
            files={"photo": ("a.jpg", b"jpeg")},
        )
        empty_file = await client.post(
            f"{fake.api_url}/sendDocument",
            data={"chat_id": str(ALICE.id)},
            files={"document": ("a.txt", b"")},
        )
        to_nobody = await client.post(
            f"{fake.api_url}/sendDocument", data={"chat_id": "5"}, files={"document": ("a", b"x")}
        )
    assert refused(no_file) == "Bad Request: there is no photo in the request"
    assert refused(unknown_id) == "Bad Request: wrong file identifier/HTTP URL specified"
    assert refused(by_url) == "Bad Request: failed to get HTTP URL content"
    assert refused(long_caption) == "Bad Request: message caption is too long"
    assert refused(empty_file) == "Bad Request: file must be non-empty"
    assert refused(to_nobody) == "Bad Request: chat not found"
    assert fake.sent == [] and fake.files.by_id == {}  # nothing stored for refused sends


async def test_files_download_only_through_a_fresh_getfile_link(
    autojump_clock: trio.abc.Clock,
) -> None:
    sizes = [(90, 60, b"small"), (320, 213, b"medium" * 10), (1280, 853, b"large" * 100)]
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        message = fake.post_photo(ALICE, sizes, caption="look @autobot_test_bot")
        largest = message["photo"][-1]
        files_url = f"{fake.base_url}/file/bot{fake.token}"
        never_issued = await client.get(f"{files_url}/photos/file_3.jpg")
        got = (await send(client, fake, "getFile", file_id=largest["file_id"])).json()["result"]
        fresh = await client.get(f"{files_url}/{got['file_path']}")
        wrong_token = await client.get(f"{fake.base_url}/file/bot1:nope/{got['file_path']}")
        await trio.sleep(3601)
        expired = await client.get(f"{files_url}/{got['file_path']}")
        big = fake.add_file(b"\0" * (20 * 1024 * 1024 + 1))
        too_big = await send(client, fake, "getFile", file_id=big.file_id)
        invalid = await send(client, fake, "getFile", file_id="BQAC-unknown")
    assert [(p["width"], p["height"], p["file_size"]) for p in message["photo"]] == [
        (90, 60, 5),
        (320, 213, 60),
        (1280, 853, 500),
    ]
    assert message["caption"] == "look @autobot_test_bot"
    assert message["caption_entities"] == [{"type": "mention", "offset": 5, "length": 17}]
    assert got == {
        "file_id": largest["file_id"],
        "file_unique_id": largest["file_unique_id"],
        "file_size": 500,
        "file_path": "photos/file_3.jpg",
    }
    assert never_issued.status_code == 404
    assert (fresh.status_code, fresh.content) == (200, b"large" * 100)
    assert wrong_token.status_code == 401
    assert expired.status_code == 404
    assert [(d.file_path, d.served, d.at) for d in fake.downloads] == [
        ("photos/file_3.jpg", False, 0),
        ("photos/file_3.jpg", True, 0),
        ("photos/file_3.jpg", False, 0),
        ("photos/file_3.jpg", False, 3601),
    ]
    assert refused(too_big) == "Bad Request: file is too big"
    assert refused(invalid) == "Bad Request: invalid file_id"


async def test_user_helpers_build_what_telegram_sends() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        private = fake.post_text(ALICE, "/start")
        reply = await send(client, fake, chat_id=ALICE.id, text="Hello!")
        answer = fake.post_text(ALICE, "thanks", reply_to=reply.json()["result"]["message_id"])
        greeting = "👋🏽 hey @autobot_test_bot, run /cmd@otherbot"
        mention = fake.post_text(BOB, greeting, chat=GROUP)
        named = "hi Autobot"
        offset, length = span_of(named, "Autobot")
        text_mention = Entity(type="text_mention", offset=offset, length=length, user=fake.bot.user)
        by_name = fake.post_text(BOB, named, chat=GROUP, entities=[text_mention])
        document = fake.post_document(
            BOB, b"%PDF-1.7", file_name="cv.pdf", mime_type="application/pdf", chat=GROUP
        )
        voice = fake.post_voice(ALICE, b"OggS", duration=4)
        updates = (await client.get(f"{fake.api_url}/getUpdates")).json()["result"]
    assert private == {
        "message_id": 1,
        "from": {"id": 1001, "is_bot": False, "first_name": "Alice", "username": "alice"},
        "chat": {"id": 1001, "type": "private", "username": "alice", "first_name": "Alice"},
        "date": private["date"],
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    assert answer["reply_to_message"]["from"]["id"] == fake.bot.id
    assert answer["message_id"] == 3  # shared numbering with the bot's message
    assert [(e["type"], e["offset"], e["length"]) for e in mention["entities"]] == [
        ("mention", 9, 17),  # 👋🏽 is two surrogate pairs: 4 units
        ("bot_command", 32, 13),
    ]
    assert [Entity(**e).covered(greeting) for e in mention["entities"]] == [
        "@autobot_test_bot",
        "/cmd@otherbot",
    ]
    assert mention["chat"] == {"id": GROUP.id, "type": "group", "title": "Friends"}
    assert by_name["entities"][0]["user"]["id"] == fake.bot.id
    assert document["document"]["file_name"] == "cv.pdf" and document["message_id"] == 3
    assert voice["voice"]["duration"] == 4 and voice["voice"]["mime_type"] == "audio/ogg"
    assert [u["update_id"] - updates[0]["update_id"] for u in updates] == [0, 1, 2, 3, 4, 5]
    assert [u["message"]["message_id"] for u in updates] == [1, 3, 1, 2, 3, 4]


async def test_a_forum_topic_message_replies_to_the_topic_opening() -> None:
    # What the real API sends: a plain message in a topic carries the topic's
    # service message as reply_to_message, which is no reply to the bot.
    async with serve_fake_telegram() as fake:
        topic = fake.open_topic(FORUM, "Ideas", creator=BOB)
        message = fake.post_text(ALICE, "new idea", chat=FORUM, thread_id=topic)
        general = fake.post_text(ALICE, "in the general topic", chat=FORUM)
        with pytest.raises(ValueError, match="has no topic 9"):
            fake.post_text(ALICE, "x", chat=FORUM, thread_id=9)
        with pytest.raises(ValueError, match="not a forum"):
            fake.open_topic(GROUP, "x", creator=BOB)
        with pytest.raises(ValueError, match="empty text"):
            fake.post_text(ALICE, "")
    assert topic == 1
    assert (message["message_thread_id"], message["is_topic_message"]) == (topic, True)
    opening = message["reply_to_message"]
    assert opening["forum_topic_created"] == {"name": "Ideas", "icon_color": 0x6FB9F0}
    assert (opening["from"]["id"], opening["message_id"]) == (BOB.id, topic)
    assert "message_thread_id" not in general and "reply_to_message" not in general
    assert message["chat"] == {
        "id": FORUM.id,
        "type": "supergroup",
        "title": "Team",
        "username": "team",
        "is_forum": True,
    }


async def test_a_refused_post_stores_nothing() -> None:
    async with serve_fake_telegram() as fake:
        fake.add_chat(GROUP)
        with pytest.raises(ValueError, match="has no message 9"):
            fake.post_photo(ALICE, [(1, 1, b"x")], reply_to=9)
        with pytest.raises(EntityError, match="ends after the end of the text"):
            fake.post_text(ALICE, "hi", entities=[Entity(type="bold", offset=0, length=3)])
        regrouped = TelegramChat(id=GROUP.id, type="supergroup", title="Friends")
        with pytest.raises(ValueError, match="is a group chat, not a supergroup"):
            fake.post_document(ALICE, b"x", file_name="a.txt", chat=regrouped)
    assert fake.files.by_id == {}
    assert fake.updates.pending == []
    assert list(fake.chats.chats) == [GROUP.id]


async def test_a_malformed_token_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="looks like 123456789:"):
        async with serve_fake_telegram(token="no-bot-id"):
            pass


def test_chat_values_refuse_impossible_chats() -> None:
    with pytest.raises(ValueError, match="only a supergroup"):
        TelegramChat(id=-5, type="group", is_forum=True)
    with pytest.raises(ValueError, match="private chat cannot have id"):
        TelegramChat(id=-5, type="private")
    assert find_entities("mail a@b.org or @bob, /x_y@bot") == (
        Entity(type="bot_command", offset=22, length=8),
    )  # e-mails are no mentions, usernames are 5+ characters


async def test_next_message_waits_for_the_bots_message(autojump_clock: trio.abc.Clock) -> None:
    async with (
        serve_fake_telegram() as fake,
        httpx.AsyncClient() as client,
        trio.open_nursery() as nursery,
    ):
        fake.post_text(ALICE, "hi")

        async def bot_answers_later() -> None:
            await trio.sleep(3)
            await send(client, fake, chat_id=ALICE.id, text="one")
            await send(client, fake, chat_id=ALICE.id, text="two")

        nursery.start_soon(bot_answers_later)
        first = await fake.next_message(ALICE.id)
        assert trio.current_time() == 3
        second = await fake.next_message(ALICE.id)
        with trio.move_on_after(60) as waited:
            await fake.next_message(ALICE.id)
    assert (first.text, second.text) == ("one", "two")
    assert waited.cancelled_caught
