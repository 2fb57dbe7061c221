"""`TelegramApi` against the loopback Bot API fake, through a real httpx client.

Every failure the client can meet on the wire: 401, both 409s, 429 with
retry_after, 5xx, a dropped connection, a stall (exact virtual times), "can't
parse entities", chat not found, a blocked bot, answers that are not the Bot
API's JSON. Every error raised is checked for the token (`failure`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import pytest
import trio

from autobot.channels.telegram.api import (
    BadRequest,
    BotIdentity,
    Conflict,
    FileTooLarge,
    Forbidden,
    NetworkTrouble,
    RateLimited,
    ServerError,
    TelegramApi,
    TelegramError,
    Unauthorized,
    is_transient,
)
from autobot.channels.telegram.render import Entity
from autobot.config.secret import Secret
from autobot.testing.fake_telegram import DEFAULT_TOKEN, FakeTelegram, serve_fake_telegram
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import BotProfile, TelegramChat, TelegramUser

TOKEN_SECRET = DEFAULT_TOKEN.split(":", 1)[1]
ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
FORUM = TelegramChat(id=-1002000, type="supergroup", title="Forum", is_forum=True)
TERMINATED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
E = TypeVar("E", bound=BaseException)
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@asynccontextmanager
async def api_for(base_url: str, **settings: Any) -> AsyncIterator[TelegramApi]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield TelegramApi(client=client, api_base=base_url, token=Secret(DEFAULT_TOKEN), **settings)


@asynccontextmanager
async def fake_and_api(**settings: Any) -> AsyncIterator[tuple[FakeTelegram, TelegramApi]]:
    bot = settings.pop("bot", None)
    async with serve_fake_telegram(bot=bot) as fake, api_for(fake.base_url, **settings) as api:
        yield fake, api


def assert_clean(error: BaseException) -> None:
    """Nothing in the error shows the token, and nothing is chained to it."""
    texts = [str(error), repr(error), *(str(arg) for arg in error.args)]
    if isinstance(error, TelegramError):
        texts.append(error.description)
    for text in texts:
        assert TOKEN_SECRET not in text, text
    assert error.__cause__ is None and error.__context__ is None


async def failure(awaitable: Awaitable[object], kind: type[E]) -> E:
    """The exception `awaitable` raises, which must be exactly `kind` and clean."""
    with pytest.raises(kind) as caught:
        await awaitable
    assert type(caught.value) is kind
    assert_clean(caught.value)
    return caught.value


# ---- identity ---------------------------------------------------------------------------


async def test_get_me_reads_the_identity_and_capabilities() -> None:
    profile = BotProfile(
        id=123456789,
        username="Helper_Bot",
        can_read_all_group_messages=True,
        has_topics_enabled=True,
    )
    async with fake_and_api(bot=profile) as (fake, api):
        identity = await api.get_me()
    assert identity == BotIdentity(
        id=123456789,
        username="Helper_Bot",
        can_read_all_group_messages=True,
        has_topics_enabled=True,
    )
    assert [(call.method, call.http_method, call.token_ok) for call in fake.calls] == [
        ("getMe", "POST", True)
    ]


async def test_a_revoked_token_is_unauthorized_and_permanent() -> None:
    async with fake_and_api() as (fake, api):
        fake.revoke_token()
        error = await failure(api.get_me(), Unauthorized)
    assert (error.code, error.description, error.method) == (401, "Unauthorized", "getMe")
    assert str(error) == "Telegram getMe: 401 Unauthorized"
    assert not is_transient(error)


async def test_a_404_on_the_bot_url_is_unauthorized_but_not_on_a_file_url() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    async with serve_http(handler) as server, api_for(server.base_url) as api:
        on_bot_url = await failure(api.get_me(), Unauthorized)
        on_file_url = await failure(api.download("photos/file_1.jpg", max_bytes=10), TelegramError)
    assert (on_bot_url.code, on_file_url.code) == (404, 404)
    assert not is_transient(on_file_url)


# ---- updates ----------------------------------------------------------------------------


async def test_get_updates_sends_every_argument_and_the_offset_confirms() -> None:
    async with fake_and_api() as (fake, api):
        fake.post_text(ALICE, "one")
        fake.post_text(ALICE, "two")
        first = await api.get_updates(offset=None, poll_timeout=0, allowed_updates=["message"])
        last = first[-1]["update_id"]
        second = await api.get_updates(
            offset=last + 1, poll_timeout=0, allowed_updates=["message"], limit=1
        )
    assert [update["message"]["text"] for update in first] == ["one", "two"]
    assert second == []
    assert [(p.offset, p.timeout, p.limit, p.allowed_updates) for p in fake.polls] == [
        (None, 0, 100, ["message"]),
        (last + 1, 0, 1, ["message"]),
    ]
    assert fake.pending_update_ids == []


async def test_a_long_poll_is_not_cut_short_but_a_stalled_one_is(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with fake_and_api(poll_margin=7.0) as (fake, api):
        start = trio.current_time()
        assert (
            await api.get_updates(offset=None, poll_timeout=25, allowed_updates=["message"]) == []
        )
        assert trio.current_time() - start == 25.0
        fake.fail_next("getUpdates", Fault.stall())
        start = trio.current_time()
        error = await failure(
            api.get_updates(offset=None, poll_timeout=25, allowed_updates=["message"]),
            NetworkTrouble,
        )
        assert trio.current_time() - start == 32.0
    assert error.description == "no answer within 32 s"
    assert is_transient(error)


async def test_a_stalled_call_hits_the_call_timeout(autojump_clock: trio.abc.Clock) -> None:
    async with fake_and_api(call_timeout=12.5) as (fake, api):
        fake.fail_next("getMe", Fault.stall())
        start = trio.current_time()
        error = await failure(api.get_me(), NetworkTrouble)
        assert trio.current_time() - start == 12.5
        assert (await api.get_me()).id == 123456789  # the next call is fine
    assert str(error) == "Telegram getMe: no answer within 12.5 s"


async def test_a_second_poller_ends_the_first_with_a_409(autojump_clock: trio.abc.Clock) -> None:
    errors: list[BaseException] = []
    async with fake_and_api() as (fake, api):

        async def first_poll() -> None:
            try:
                await api.get_updates(offset=None, poll_timeout=30, allowed_updates=["message"])
            except Conflict as error:
                errors.append(error)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first_poll)
            await fake.until(lambda: fake.active_poll is not None)
            await trio.sleep(1)
            await api.get_updates(offset=None, poll_timeout=0, allowed_updates=["message"])
    [error] = errors
    assert isinstance(error, Conflict)
    assert_clean(error)
    assert (error.code, error.description, error.webhook_active) == (409, TERMINATED, False)
    assert is_transient(error)


async def test_an_active_webhook_makes_polling_a_409_until_it_is_deleted() -> None:
    async with fake_and_api() as (fake, api):
        await api.set_webhook(
            "https://bot.example/telegram",
            secret_token=Secret("s3cret_-X"),
            allowed_updates=["message"],
        )
        error = await failure(
            api.get_updates(offset=None, poll_timeout=0, allowed_updates=["message"]), Conflict
        )
        fake.post_text(ALICE, "kept")
        await api.delete_webhook()
        updates = await api.get_updates(offset=None, poll_timeout=0, allowed_updates=["message"])
    assert (error.description, error.webhook_active) == (WEBHOOK_ACTIVE, True)
    assert is_transient(error)
    [set_call] = fake.calls_to("setWebhook")
    assert set_call.arguments.string("secret_token") == "s3cret_-X"
    assert set_call.arguments.structured("allowed_updates") == ["message"]
    [delete_call] = fake.calls_to("deleteWebhook")
    assert delete_call.arguments.flag("drop_pending_updates") is False
    assert [update["message"]["text"] for update in updates] == ["kept"]


# ---- sending ----------------------------------------------------------------------------


async def test_send_message_with_entities_reply_and_topic() -> None:
    async with fake_and_api() as (fake, api):
        topic = fake.open_topic(FORUM, "ideas", ALICE)
        question = fake.post_text(ALICE, "question", chat=FORUM, thread_id=topic)
        text = "😀 bold"
        sent_id = await api.send_message(
            str(FORUM.id),
            text,
            entities=[Entity("bold", 3, 4)],
            reply_to=question["message_id"],
            thread_id=topic,
        )
        orphan_id = await api.send_message(FORUM.id, "late", reply_to=999, thread_id=topic)
    first, orphan = fake.messages_in(FORUM.id)
    assert (first.message_id, first.text, first.thread_id) == (sent_id, text, topic)
    assert [(e.type, e.offset, e.length) for e in first.entities] == [("bold", 3, 4)]
    assert first.reply_to_message_id == question["message_id"]
    assert first.parse_mode is None
    # a reply to a message that is gone is still sent (allow_sending_without_reply)
    assert (orphan.message_id, orphan.reply_to_message_id) == (orphan_id, None)


async def test_send_chat_action_reaches_the_topic() -> None:
    async with fake_and_api() as (fake, api):
        topic = fake.open_topic(FORUM, "ideas", ALICE)
        await api.send_chat_action(FORUM.id, thread_id=topic)
        await api.send_chat_action(FORUM.id, "upload_photo")
    assert [(a.chat_id, a.action, a.thread_id) for a in fake.chat_actions] == [
        (FORUM.id, "typing", topic),
        (FORUM.id, "upload_photo", None),
    ]


async def test_unparsable_entities_are_a_parse_error() -> None:
    async with fake_and_api() as (fake, api):
        fake.post_text(ALICE, "hi")
        fake.fail_next("sendMessage", Fault.cant_parse_entities())
        error = await failure(api.send_message(ALICE.id, "text"), BadRequest)
    assert error.is_parse_error
    assert error.description.startswith("Bad Request: can't parse entities: ")
    assert not is_transient(error)


async def test_chat_not_found_is_a_bad_request_but_no_parse_error() -> None:
    async with fake_and_api() as (_, api):
        error = await failure(api.send_message(424242, "anyone?"), BadRequest)
    assert (error.code, error.description) == (400, "Bad Request: chat not found")
    assert not error.is_parse_error
    assert not is_transient(error)


async def test_a_blocked_bot_is_forbidden_and_permanent() -> None:
    async with fake_and_api() as (fake, api):
        fake.post_text(ALICE, "hi")
        fake.block_bot(ALICE)
        error = await failure(api.send_message(ALICE.id, "still there?"), Forbidden)
        action = await failure(api.send_chat_action(ALICE.id), Forbidden)
    assert error.description == action.description == "Forbidden: bot was blocked by the user"
    assert not is_transient(error)


async def test_too_many_requests_carries_retry_after() -> None:
    async with fake_and_api() as (fake, api):
        fake.post_text(ALICE, "hi")
        fake.fail_next("sendMessage", Fault.too_many_requests(7))
        error = await failure(api.send_message(ALICE.id, "x"), RateLimited)
        assert await api.send_message(ALICE.id, "x") > 0
    assert (error.code, error.retry_after) == (429, 7)
    assert error.description == "Too Many Requests: retry after 7"
    assert is_transient(error)


async def test_server_errors_are_transient() -> None:
    async with fake_and_api() as (fake, api):
        fake.fail_next("getMe", Fault.server_error(502, "Bad Gateway"))
        error = await failure(api.get_me(), ServerError)
    assert (error.code, error.description) == (502, "Bad Gateway")
    assert is_transient(error)


async def test_a_dropped_connection_is_network_trouble() -> None:
    async with fake_and_api() as (fake, api):
        fake.post_text(ALICE, "hi")
        fake.fail_next("sendMessage", Fault.dropped_connection())
        error = await failure(api.send_message(ALICE.id, "x"), NetworkTrouble)
    assert error.code == 0
    assert error.description.startswith("RemoteProtocolError: ")
    assert is_transient(error)


async def test_a_refused_connection_is_network_trouble() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        raise AssertionError("never reached")

    async with serve_http(handler) as server:
        closed = server.base_url
    async with api_for(closed) as api:
        error = await failure(api.get_me(), NetworkTrouble)
    assert error.description.startswith("ConnectError: ")
    assert is_transient(error)


# ---- answers that are not the Bot API's -------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind", "description"),
    [
        (
            HttpResponse(status=502, headers={"content-type": "text/html"}, body=b"<h1>proxy</h1>"),
            ServerError,
            "an answer that is not the Bot API's JSON",
        ),
        (
            HttpResponse(status=200, body=b"<html>captive portal</html>"),
            NetworkTrouble,
            "HTTP 200 answer that is not the Bot API's JSON",
        ),
        (
            HttpResponse.json(200, {"ok": True, "result": "not a user"}),
            NetworkTrouble,
            "answered a result that is not an object",
        ),
        (
            HttpResponse.json(200, {"ok": True, "result": {"id": 5, "username": "no spaces"}}),
            NetworkTrouble,
            "answered a bot without a valid id and username",
        ),
        (
            HttpResponse(status=302, headers={"location": "https://elsewhere.example/"}),
            NetworkTrouble,
            "HTTP 302 answer that is not the Bot API's JSON",
        ),
        (
            HttpResponse(
                status=200,
                headers={"content-type": "application/json", "content-encoding": "gzip"},
                body=gzip.compress(b'{"ok": true, "result": {}}'),
            ),
            NetworkTrouble,
            "answered with content-encoding 'gzip'",
        ),
        (
            HttpResponse(status=200, body=b"[" * 5000),
            NetworkTrouble,
            "answered more than 1000 bytes",
        ),
        (
            HttpResponse(status=200, body=b"[" * 999),
            NetworkTrouble,
            "HTTP 200 answer that is not the Bot API's JSON",
        ),
    ],
)
async def test_answers_that_are_not_the_bot_api_json(
    answer: HttpResponse, kind: type[TelegramError], description: str
) -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        return answer

    async with (
        serve_http(handler) as server,
        api_for(server.base_url, max_answer_bytes=1000) as api,
    ):
        error = await failure(api.get_me(), kind)
    assert error.description == description
    assert is_transient(error)


async def test_a_description_echoing_the_token_is_scrubbed() -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        description = f"Bad Request: wrong token {DEFAULT_TOKEN}\nin {request.path}"
        return HttpResponse.json(
            400,
            {
                "ok": False,
                "error_code": 400,
                "description": description,
                "parameters": {"migrate_to_chat_id": -1009},
            },
        )

    async with serve_http(handler) as server, api_for(server.base_url) as api:
        error = await failure(api.send_message(-5, "hi"), BadRequest)
    assert error.description == (
        "Bad Request: wrong token 123456789:[REDACTED] in /bot123456789:[REDACTED]/sendMessage"
    )
    assert error.migrate_to_chat_id == -1009


# ---- files ------------------------------------------------------------------------------


async def test_photo_and_document_uploads_round_trip_their_bytes() -> None:
    photo = bytes(range(256)) * 40
    document = b"%PDF-1.7\n" + bytes(reversed(range(256))) * 3
    async with fake_and_api() as (fake, api):
        fake.post_text(ALICE, "send me things")
        photo_id = await api.send_photo(
            ALICE.id,
            "chart.png",
            photo,
            caption="📈 chart",
            caption_entities=[Entity("bold", 3, 5)],
        )
        document_id = await api.send_document(ALICE.id, "report.pdf", document, reply_to=1)
        sent_photo, sent_document = fake.messages_in(ALICE.id)
        assert sent_photo.upload is not None and sent_document.upload is not None
        # back down through getFile and the file URL
        photo_path, photo_size = await api.get_file(sent_photo.message["photo"][-1]["file_id"])
        downloaded = await api.download(photo_path, max_bytes=len(photo))
        document_path, _ = await api.get_file(sent_document.message["document"]["file_id"])
        document_back = await api.download(document_path, max_bytes=len(document))
    assert (sent_photo.method, sent_photo.message_id) == ("sendPhoto", photo_id)
    assert (sent_photo.upload.file_name, sent_photo.upload.content) == ("chart.png", photo)
    assert (sent_photo.text, [(e.type, e.offset, e.length) for e in sent_photo.entities]) == (
        "📈 chart",
        [("bold", 3, 5)],
    )
    assert (sent_document.method, sent_document.message_id) == ("sendDocument", document_id)
    assert (sent_document.upload.file_name, sent_document.upload.content) == (
        "report.pdf",
        document,
    )
    assert sent_document.reply_to_message_id == 1
    assert (downloaded, photo_size) == (photo, len(photo))
    assert document_back == document


async def test_a_download_over_the_cap_is_refused() -> None:
    async with fake_and_api() as (fake, api):
        message = fake.post_document(ALICE, b"x" * 5000, file_name="big.bin")
        path, size = await api.get_file(message["document"]["file_id"])
        error = await failure(api.download(path, max_bytes=4999), FileTooLarge)
        exact = await api.download(path, max_bytes=5000)
        expired = await failure(
            api.download("documents/never_issued.bin", max_bytes=10), TelegramError
        )
    assert size == 5000 and len(exact) == 5000
    assert error.description == "the file is larger than 4999 bytes"
    assert not is_transient(error)
    assert (expired.code, expired.description) == (404, "Not Found")


async def test_an_endless_download_is_cut_at_the_cap() -> None:
    chunk = b"\0" * 65536
    total_chunks = 4096  # 256 MiB: far more than the socket buffers hold
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        for _ in range(total_chunks):
            produced += 1
            yield chunk

    async def handler(request: HttpRequest) -> HttpResponse:
        return HttpResponse(status=200, stream=endless())

    async with serve_http(handler) as server, api_for(server.base_url) as api:
        error = await failure(api.download("documents/file_1.bin", max_bytes=100_000), FileTooLarge)
    assert error.description == "the file is larger than 100000 bytes"
    assert 2 <= produced < total_chunks


async def test_a_file_too_big_for_the_bot_api_is_a_bad_request() -> None:
    async with fake_and_api() as (fake, api):
        stored = fake.add_file(b"\0" * (20 * 1024 * 1024 + 1))
        error = await failure(api.get_file(stored.file_id), BadRequest)
    assert error.description == "Bad Request: file is too big"


# ---- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda api: api.send_message("alice", "hi"), "not a Telegram chat id: 'alice'"),
        (lambda api: api.send_message(True, "hi"), "not a Telegram chat id: True"),
        (lambda api: api.send_message(5, " \n "), "a message text must not be blank"),
        (lambda api: api.send_message(5, "x" * 4097), "longer than 4096 UTF-16 code units"),
        (lambda api: api.send_message(5, "😀" * 2049), "longer than 4096 UTF-16 code units"),
        (lambda api: api.send_message(5, "a\ud83d"), "holds a surrogate code point"),
        (lambda api: api.send_message(5, "hi", reply_to=0), "reply_to must be a positive int"),
        (lambda api: api.send_message(5, "hi", thread_id=-3), "thread_id must be a positive int"),
        (lambda api: api.send_chat_action(5, "dancing"), "'dancing' is not a Bot API chat action"),
        (
            lambda api: api.get_updates(offset=None, poll_timeout=51, allowed_updates=["message"]),
            "timeout must be 0-50 seconds",
        ),
        (
            lambda api: api.get_updates(offset=None, poll_timeout=0, allowed_updates="message"),
            "allowed_updates is a list",
        ),
        (
            lambda api: api.get_updates(offset=1, poll_timeout=0, allowed_updates=[], limit=0),
            "limit must be 1-100",
        ),
        (lambda api: api.send_photo(5, "a.png", b""), "sendPhoto uploads 1 to 10485760 bytes"),
        (
            lambda api: api.send_photo(5, "a.png", b"\0" * (10 * 1024 * 1024 + 1)),
            "sendPhoto uploads 1 to 10485760 bytes",
        ),
        (lambda api: api.send_document(5, "../x", b"x"), "must be 1-255 bytes without /"),
        (lambda api: api.send_document(5, 'a"\r\nb', b"x"), "must be 1-255 bytes without /"),
        (lambda api: api.send_document(5, "a", b"x", caption="c" * 1025), "longer than 1024"),
        (lambda api: api.get_file(""), "a file_id is non-empty"),
        (lambda api: api.download("../etc/passwd", max_bytes=5), "is not a plain relative path"),
        (lambda api: api.download("a/b?x=1", max_bytes=5), "has control characters, ?, #"),
        (lambda api: api.download("a/b", max_bytes=0), "max_bytes must be a positive int"),
        (
            lambda api: api.set_webhook(
                "http://bot.example/", secret_token="x", allowed_updates=[]
            ),
            "must be an https URL",
        ),
        (
            lambda api: api.set_webhook(
                "https://bot.example/", secret_token="a b", allowed_updates=[]
            ),
            "secret_token is 1-256 characters",
        ),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(call: Any, message: str) -> None:
    async with fake_and_api() as (fake, api):
        with pytest.raises(ValueError, match=None) as caught:
            await call(api)
    assert message in str(caught.value)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"api_base": "http://api.telegram.example"}, "must use https unless its host is loopback"),
        ({"api_base": "ftp://127.0.0.1"}, "must be an http(s) URL"),
        ({"api_base": "https://user:pw@api.telegram.org"}, "must not carry user information"),
        ({"api_base": "https://api.telegram.org?x=1"}, "must be an http(s) URL"),
        ({"token": "123:abc/../../x"}, "the bot token is not of the form"),
        ({"token": Secret("no-colon")}, "the bot token is not of the form"),
        ({"call_timeout": 0}, "call_timeout must be > 0"),
        ({"max_answer_bytes": -1}, "max_answer_bytes must be > 0"),
    ],
)
async def test_bad_settings_are_refused_and_never_show_the_token(
    settings: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"api_base": "https://api.telegram.org", "token": DEFAULT_TOKEN}
    arguments.update(settings)
    async with httpx.AsyncClient() as client:
        with pytest.raises(ValueError) as caught:
            TelegramApi(client=client, **arguments)
    assert message in str(caught.value)
    assert "abc/../../x" not in str(caught.value)


async def test_the_token_is_not_in_the_repr_and_the_base_is_normalised() -> None:
    async with httpx.AsyncClient() as client:
        api = TelegramApi(client=client, api_base="http://[::1]:8081/", token=DEFAULT_TOKEN)
        local = TelegramApi(client=client, api_base="http://localhost", token=DEFAULT_TOKEN)
    assert TOKEN_SECRET not in repr(api)
    assert api.api_base == "http://[::1]:8081"
    assert local.token == Secret(DEFAULT_TOKEN)


def test_the_transient_split() -> None:
    transient = [
        NetworkTrouble(0, "x"),
        ServerError(500, "x"),
        RateLimited(429, "x", retry_after=3),
        Conflict(409, "x"),
    ]
    permanent = [
        Unauthorized(401, "x"),
        Forbidden(403, "x"),
        BadRequest(400, "x"),
        FileTooLarge(0, "x"),
        TelegramError(413, "x"),
        ValueError("x"),
    ]
    assert [is_transient(error) for error in transient] == [True] * 4
    assert [is_transient(error) for error in permanent] == [False] * 6
    assert json.dumps(str(TelegramError(0, "down", method="getMe"))) == '"Telegram getMe: down"'


async def test_text_no_utf8_can_carry_still_makes_a_clean_request() -> None:
    async with fake_and_api() as (fake, api):
        error = await failure(api.get_file("id\ud83d"), BadRequest)
    assert error.description == "Bad Request: invalid file_id"
    [call] = fake.calls_to("getFile")
    assert call.arguments.string("file_id") == "id\ud83d"  # sent as a JSON escape
