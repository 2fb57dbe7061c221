"""The Telegram Bot API fake through plain httpx: routes, auth, updates, 409s,
webhooks, faults. Virtual time (autojump_clock) with exact assertions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import BotProfile, TelegramUser

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob")
TERMINATED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


async def call(
    client: httpx.AsyncClient, fake: FakeTelegram, method: str, **arguments: Any
) -> httpx.Response:
    return await client.post(f"{fake.api_url}/{method}", json=arguments)


def update_ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [update["update_id"] for update in response.json()["result"]]


async def test_get_me_answers_the_profile_and_routes_are_checked() -> None:
    bot = BotProfile(id=42, username="helper_bot", first_name="Helper", has_topics_enabled=True)
    async with (
        serve_fake_telegram(token="42:secret-token", bot=bot) as fake,
        httpx.AsyncClient() as client,
    ):
        me = await client.get(f"{fake.api_url}/getMe")
        wrong_token = await client.get(f"{fake.base_url}/bot42:other/getMe")
        unknown = await client.get(f"{fake.api_url}/sendRocket")
        elsewhere = await client.get(f"{fake.base_url}/getMe")
        lower_case = await client.get(f"{fake.api_url}/getme")
    assert me.json() == {
        "ok": True,
        "result": {
            "id": 42,
            "is_bot": True,
            "first_name": "Helper",
            "username": "helper_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
            "has_topics_enabled": True,
            "allows_users_to_create_topics": False,
        },
    }
    assert (wrong_token.status_code, wrong_token.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert elsewhere.status_code == 404
    assert lower_case.json()["result"]["id"] == 42
    assert [(c.method, c.token_ok) for c in fake.calls] == [
        ("getMe", True),
        ("getMe", False),
        ("sendRocket", True),
        ("getme", True),
    ]


async def test_a_revoked_token_makes_every_call_401_and_each_is_recorded() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        assert (await call(client, fake, "getMe")).status_code == 200
        fake.revoke_token()
        answers = [await call(client, fake, "getMe") for _ in range(2)]
        poll = await call(client, fake, "getUpdates")
    assert [a.json()["description"] for a in answers] == ["Unauthorized", "Unauthorized"]
    assert poll.status_code == 401
    assert [c.token_ok for c in fake.calls_to("getMe")] == [True, False, False]


async def test_arguments_arrive_by_query_json_form_and_multipart_alike() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        url = f"{fake.api_url}/sendMessage"
        by_query = await client.get(url, params={"chat_id": "1001", "text": "query"})
        by_json = await client.post(url, json={"chat_id": 1001, "text": "json"})
        by_form = await client.post(url, data={"chat_id": "1001", "text": "form"})
        by_multipart = await client.post(
            url, data={"chat_id": "1001", "text": "multipart"}, files={"x": ("x.bin", b"\0")}
        )
        garbage = await client.post(
            url, content=b"{not json", headers={"content-type": "application/json"}
        )
    assert [r.status_code for r in (by_query, by_json, by_form, by_multipart)] == [200] * 4
    assert [m.text for m in fake.messages_in(1001)] == ["query", "json", "form", "multipart"]
    assert [m.message_id for m in fake.messages_in(1001)] == [2, 3, 4, 5]
    assert garbage.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: can't parse JSON object",
    }


async def test_an_offset_confirms_everything_below_it_for_good() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        first, second, third = (fake.post_text(ALICE, w) for w in ("one", "two", "three"))
        ids = update_ids(await call(client, fake, "getUpdates"))
        assert ids[1:] == [ids[0] + 1, ids[0] + 2]
        assert update_ids(await call(client, fake, "getUpdates")) == ids  # not confirmed yet
        assert update_ids(await call(client, fake, "getUpdates", offset=ids[1])) == ids[1:]
        assert update_ids(await call(client, fake, "getUpdates")) == ids[1:]  # ids[0] is gone
        assert update_ids(await call(client, fake, "getUpdates", limit=1)) == ids[1:2]
        assert update_ids(await call(client, fake, "getUpdates", offset=-1)) == ids[2:]
        assert fake.pending_update_ids == ids[2:]
        assert update_ids(await call(client, fake, "getUpdates", offset=ids[2] + 1)) == []
    assert [m["message_id"] for m in (first, second, third)] == [1, 2, 3]
    assert fake.pending_update_ids == []


async def test_a_long_poll_wakes_at_the_exact_time_an_update_arrives(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient(timeout=100) as client:
        start = trio.current_time()
        empty = await call(client, fake, "getUpdates", timeout=30)
        assert trio.current_time() - start == 30
        assert empty.json() == {"ok": True, "result": []}

        async def alice_writes_later() -> None:
            await trio.sleep(7)
            fake.post_text(ALICE, "are you there?")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice_writes_later)
            start = trio.current_time()
            woken = await call(client, fake, "getUpdates", timeout=30)
        assert trio.current_time() - start == 7
        assert woken.json()["result"][0]["message"]["text"] == "are you there?"

        start = trio.current_time()
        await call(client, fake, "getUpdates", offset=update_ids(woken)[0] + 1, timeout=500)
        assert trio.current_time() - start == 50  # the server's longest poll


async def test_allowed_updates_is_sticky_and_every_call_is_recorded() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        await call(client, fake, "getUpdates", allowed_updates=["message"])
        await client.post(f"{fake.api_url}/getUpdates", data={"offset": "5", "timeout": "0"})
        edit = fake.inject_update("edited_message", {"message_id": 1, "text": "x"})
        message = fake.post_text(ALICE, "hello")
        await client.post(
            f"{fake.api_url}/getUpdates", data={"allowed_updates": "[]", "offset": "0"}
        )
        later_edit = fake.inject_update("edited_message", {"message_id": 1, "text": "y"})
    assert edit is None  # filtered when created, as on the real server
    assert fake.updates.filtered == [("edited_message", {"message_id": 1, "text": "x"})]
    assert later_edit is not None  # [] restored the default set
    assert [u.get("message") for u in fake.updates.pending] == [message, None]
    assert [(p.offset, p.timeout, p.allowed_updates) for p in fake.polls] == [
        (None, None, ["message"]),
        (5, 0, None),
        (0, None, []),
    ]


async def test_a_second_poller_ends_the_first_with_409(autojump_clock: trio.abc.Clock) -> None:
    answers: dict[str, tuple[float, httpx.Response]] = {}
    async with serve_fake_telegram() as fake, httpx.AsyncClient(timeout=100) as client:

        async def poll(name: str) -> None:
            response = await call(client, fake, "getUpdates", timeout=30)
            answers[name] = (trio.current_time(), response)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll, "first")
            await fake.wait_for_calls("getUpdates", 1)
            await trio.sleep(3)
            nursery.start_soon(poll, "second")
            await fake.wait_for_calls("getUpdates", 2)
            await trio.sleep(4)
            fake.post_text(ALICE, "hi")
    first_at, first = answers["first"]
    second_at, second = answers["second"]
    assert (first_at, first.status_code) == (3, 409)
    assert first.json() == {"ok": False, "error_code": 409, "description": TERMINATED}
    assert (second_at, second.status_code) == (7, 200)
    assert len(second.json()["result"]) == 1


async def test_getupdates_while_a_webhook_is_set_is_409_until_it_is_deleted() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "one")
        set_answer = await call(client, fake, "setWebhook", url="http://127.0.0.1:9/hook")
        # nothing listens on port 9: deliveries fail and the update stays pending
        conflict = await call(client, fake, "getUpdates")
        kept = await call(client, fake, "deleteWebhook")
        after = await call(client, fake, "getUpdates")
        await call(client, fake, "deleteWebhook", drop_pending_updates=True)
        dropped = await call(client, fake, "getUpdates")
    assert set_answer.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    assert (conflict.status_code, conflict.json()["description"]) == (409, WEBHOOK_ACTIVE)
    assert kept.json() == {"ok": True, "result": True, "description": "Webhook was deleted"}
    assert [u["message"]["text"] for u in after.json()["result"]] == ["one"]
    assert dropped.json()["result"] == []


async def test_set_webhook_ends_a_waiting_poll(autojump_clock: trio.abc.Clock) -> None:
    async with (
        serve_fake_telegram() as fake,
        httpx.AsyncClient(timeout=100) as client,
        trio.open_nursery() as nursery,
    ):

        async def poll() -> None:
            response = await call(client, fake, "getUpdates", timeout=30)
            assert trio.current_time() == 2
            assert response.json()["description"] == "Conflict: terminated by setWebhook request"

        nursery.start_soon(poll)
        await fake.wait_for_calls("getUpdates", 1)
        await trio.sleep(2)
        await call(client, fake, "setWebhook", url="http://127.0.0.1:9/hook")


async def test_webhook_settings_are_validated_and_rate_limited(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:

        async def set_hook(**arguments: Any) -> tuple[int, str]:
            answer = await call(client, fake, "setWebhook", **arguments)
            await trio.sleep(1)  # setWebhook sets a URL at most once a second
            return answer.status_code, answer.json().get("description", "")

        assert await set_hook(url="http://127.0.0.1:8080/h", secret_token="bad token!") == (
            400,
            "Bad Request: secret token contains unallowed characters",
        )
        assert await set_hook(url="http://127.0.0.1:8080/h", secret_token="a" * 257) == (
            400,
            "Bad Request: secret token is too long",
        )
        assert await set_hook(url="ftp://127.0.0.1/h") == (
            400,
            "Bad Request: invalid webhook URL specified",
        )
        assert await set_hook(url="http://example.org/h") == (
            400,
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        )
        assert await set_hook(url="https://example.org:8080/h") == (
            400,
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        )
        assert fake.webhook.settings is None  # refused settings changed nothing
        good = {"url": "http://127.0.0.1:8080/h", "secret_token": "A-z_09" * 42 + "abcd"}
        assert await set_hook(**good) == (200, "Webhook was set")
        assert await set_hook(**good) == (200, "Webhook is already set")
        await call(client, fake, "setWebhook", url="http://127.0.0.1:8080/other")
        too_soon = await call(client, fake, "setWebhook", url="http://127.0.0.1:8080/third")
        info = await call(client, fake, "getWebhookInfo")
    assert too_soon.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }
    assert info.json()["result"] == {
        "url": "http://127.0.0.1:8080/other",
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 40,
        "ip_address": "127.0.0.1",
    }


async def test_webhook_delivery_sends_the_secret_and_retries_until_2xx(
    autojump_clock: trio.abc.Clock,
) -> None:
    received: list[tuple[float, HttpRequest]] = []
    statuses = [500, 403, 200]

    async def receiver(request: HttpRequest) -> HttpResponse:
        received.append((trio.current_time(), request))
        return HttpResponse.json(statuses.pop(0), {})

    async with (
        serve_http(receiver) as hook,
        serve_fake_telegram(webhook_retry_delay=5) as fake,
        httpx.AsyncClient() as client,
    ):
        await call(
            client,
            fake,
            "setWebhook",
            url=f"{hook.base_url}/telegram",
            secret_token="s3cret_-token",
            allowed_updates=["message"],
        )
        start = trio.current_time()
        message = fake.post_text(ALICE, "via webhook")
        await fake.until(lambda: not fake.updates.pending)
        info = (await call(client, fake, "getWebhookInfo")).json()["result"]
    assert [at - start for at, _ in received] == [0, 5, 10]
    assert all(r.path == "/telegram" for _, r in received)
    assert {r.headers["x-telegram-bot-api-secret-token"] for _, r in received} == {"s3cret_-token"}
    assert received[-1][1].json() == {"update_id": fake.updates.next_id - 1, "message": message}
    assert [(d.status, d.accepted) for d in fake.webhook.deliveries] == [
        (500, False),
        (403, False),
        (200, True),
    ]
    assert info["pending_update_count"] == 0
    assert info["last_error_message"] == "Wrong response from the webhook: 403 Forbidden"
    assert info["allowed_updates"] == ["message"]


async def test_a_webhook_that_never_answers_times_out(autojump_clock: trio.abc.Clock) -> None:
    async def silent(request: HttpRequest) -> HttpResponse:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async with (
        serve_http(silent) as hook,
        serve_fake_telegram(webhook_timeout=3, webhook_retry_delay=1) as fake,
        httpx.AsyncClient() as client,
    ):
        await call(client, fake, "setWebhook", url=f"{hook.base_url}/h")
        fake.post_text(ALICE, "hello?")
        await fake.until(lambda: len(fake.webhook.deliveries) == 2)
    assert [(d.at, d.status, d.error) for d in fake.webhook.deliveries] == [
        (0, None, "Read timeout expired"),
        (4, None, "Read timeout expired"),
    ]
    assert fake.pending_update_ids != []


async def test_429_and_5xx_faults_have_the_api_shape_and_run_out() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        fake.fail_next("sendMessage", Fault.too_many_requests(retry_after=7), count=2)
        fake.fail_next("SENDMESSAGE", Fault.server_error(502, "Bad Gateway"))
        fake.fail_next("sendMessage", Fault.cant_parse_entities())
        answers = [await call(client, fake, "sendMessage", chat_id=1001, text="x") for _ in "abcde"]
    assert [a.status_code for a in answers] == [429, 429, 502, 400, 200]
    assert answers[3].json()["description"] == (
        'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0'
    )
    assert answers[0].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert answers[2].json() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    assert len(fake.sent) == 1  # faulted calls sent nothing


async def test_a_stalled_method_outlasts_the_client_timeout(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient(timeout=5) as client:
        fake.fail_next("getMe", Fault.stall())
        start = trio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await call(client, fake, "getMe")
        assert trio.current_time() - start == 5
        assert (await call(client, fake, "getMe")).status_code == 200


async def test_a_dropped_connection_gets_no_answer_and_sends_nothing() -> None:
    async with serve_fake_telegram() as fake, httpx.AsyncClient() as client:
        fake.post_text(ALICE, "hi")
        fake.fail_next("sendMessage", Fault.dropped_connection())
        with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
            await call(client, fake, "sendMessage", chat_id=1001, text="lost")
        again = await call(client, fake, "sendMessage", chat_id=1001, text="second try")
    assert again.json()["result"]["message_id"] == 2
    assert [m.text for m in fake.sent] == ["second try"]
    assert len(fake.calls_to("sendMessage")) == 2


def test_faults_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least 1 second"):
        Fault.too_many_requests(0)
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(404)
    with pytest.raises(ValueError, match="positive"):
        Fault.stall(0)
