"""The Zulip REST client against the loopback fake (and raw loopback servers for odd answers)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
import trio.testing

from autobot.channels.zulip.api import (
    BadRequest,
    FileTooLarge,
    NetworkTrouble,
    QueueGone,
    RateLimited,
    ServerError,
    Unauthorized,
    ZulipApi,
    upload_path_problem,
)
from autobot.config.secret import Secret
from autobot.testing.fake_zulip import (
    DEFAULT_API_KEY,
    HEARTBEAT_SECONDS,
    LONGPOLL_TIMEOUT_SECONDS,
    FakeZulip,
    serve_fake_zulip,
)
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.zulip.faults import Fault


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def client_for(fake: FakeZulip, **settings: object) -> AsyncIterator[ZulipApi]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield ZulipApi(
            client=client,
            site=fake.base_url,
            email=fake.bot.email,
            api_key=Secret(fake.api_key),
            **settings,  # type: ignore[arg-type]
        )


async def test_identity_registration_and_a_long_poll_ending_in_a_heartbeat(
    clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_zulip() as fake, client_for(fake) as api:
        bot = await api.get_me()
        assert (bot.user_id, bot.email, bot.full_name) == (9, fake.bot.email, "Autobot")
        queue = await api.register()
        assert queue.last_event_id == -1
        assert (queue.longpoll_seconds, queue.max_message_length) == (
            LONGPOLL_TIMEOUT_SECONDS,
            10_000,
        )
        [call] = fake.calls_to("register")
        assert json.loads(call.arguments["event_types"]) == ["message"]
        assert json.loads(call.arguments["fetch_event_types"]) == ["realm"]
        assert call.arguments["apply_markdown"] == "false"
        start = trio.current_time()
        events = await api.get_events(queue.queue_id, -1, longpoll_seconds=queue.longpoll_seconds)
        assert events == [{"type": "heartbeat", "id": 0}]
        assert trio.current_time() - start == HEARTBEAT_SECONDS
        alice = fake.add_user("Alice", "alice@example.com")
        fake.send_direct(alice, "hi")
        [event] = await api.get_events(queue.queue_id, 0, longpoll_seconds=90)
        assert event["message"]["content"] == "hi" and event["id"] == 1


async def test_credentials_go_in_basic_auth_and_a_refusal_never_shows_the_key() -> None:
    async with serve_fake_zulip() as fake:
        async with client_for(fake) as api:
            await api.get_me()
        expected = base64.b64encode(f"{fake.bot.email}:{fake.api_key}".encode()).decode()
        assert fake.calls[0].auth_ok
        async with httpx.AsyncClient(trust_env=False) as client:
            wrong = ZulipApi(
                client=client, site=fake.base_url, email=fake.bot.email, api_key="x" * 32
            )
            with pytest.raises(Unauthorized) as refused:
                await wrong.register()
        assert refused.value.code == "INVALID_API_KEY"
        assert str(refused.value) == "Zulip register: 401 INVALID_API_KEY: Invalid API key"
        assert DEFAULT_API_KEY not in repr(api) and expected not in repr(api)


async def test_rate_limits_carry_retry_after_from_the_body_the_header_or_the_longer() -> None:
    async with serve_fake_zulip() as fake, client_for(fake) as api:
        fake.fail_next("users/me", Fault.rate_limited(2.5, in_header=False))
        fake.fail_next("users/me", Fault.rate_limited(4, in_body=False))
        fake.fail_next("users/me", Fault.error(429, "RATE_LIMIT_HIT", "slow down"))
        waits = []
        for _ in range(3):
            with pytest.raises(RateLimited) as limited:
                await api.get_me()
            waits.append(limited.value.retry_after)
        assert waits == [2.5, 4.0, None]

    async def both(request: HttpRequest) -> HttpResponse:
        body = {"result": "error", "code": "RATE_LIMIT_HIT", "msg": "x", "retry-after": 3.25}
        return HttpResponse.json(429, body, {"retry-after": "7"})

    async with serve_http(both) as server, httpx.AsyncClient(trust_env=False) as client:
        api = ZulipApi(client=client, site=server.base_url, email="b@x.org", api_key="k" * 32)
        with pytest.raises(RateLimited) as limited:
            await api.get_me()
        assert limited.value.retry_after == 7.0


async def test_queue_errors_server_errors_and_no_answer(clock: trio.testing.MockClock) -> None:
    async with serve_fake_zulip() as fake, client_for(fake, call_timeout=5.0) as api:
        with pytest.raises(QueueGone) as gone:
            await api.get_events("1:404", -1, longpoll_seconds=90)
        assert gone.value.code == "BAD_EVENT_QUEUE_ID"
        queue = await api.register()
        alice = fake.add_user("Alice", "alice@example.com")
        fake.send_direct(alice, "one")
        fake.send_direct(alice, "two")
        assert len(await api.get_events(queue.queue_id, -1, longpoll_seconds=90)) == 2
        assert len(await api.get_events(queue.queue_id, 0, longpoll_seconds=90)) == 1
        with pytest.raises(BadRequest, match="An event newer than -1 has already been pruned"):
            await api.get_events(queue.queue_id, -1, longpoll_seconds=90)
        with pytest.raises(BadRequest, match="Event 5 was not in this queue"):
            await api.get_events(queue.queue_id, 5, longpoll_seconds=90)
        fake.fail_next("users/me", Fault.server_error(502))
        with pytest.raises(ServerError, match="502"):
            await api.get_me()
        fake.fail_next("users/me", Fault.dropped_connection())
        with pytest.raises(NetworkTrouble):
            await api.get_me()
        fake.fail_next("users/me", Fault.stall())
        start = trio.current_time()
        with pytest.raises(NetworkTrouble, match="no answer within 5 s"):
            await api.get_me()
        assert trio.current_time() - start == 5.0
        fake.fail_next("events", Fault.stall())
        start = trio.current_time()
        with pytest.raises(NetworkTrouble, match="no answer within 100 s"):
            await api.get_events(queue.queue_id, -1, longpoll_seconds=90)
        assert trio.current_time() - start == 90 + 10  # the long poll plus the margin


async def test_sending_and_the_servers_refusals() -> None:
    async with serve_fake_zulip(max_message_length=100) as fake, client_for(fake) as api:
        alice = fake.add_user("Alice", "alice@example.com")
        general = fake.add_stream("general")
        first = await api.send_private([alice.id], "hello *there*")
        second = await api.send_stream(general.id, "lunch plans", "noon?")
        assert [
            (m.id, m.kind, m.recipients, m.stream_id, m.topic, m.content) for m in fake.sent
        ] == [
            (first, "private", (alice.id,), None, None, "hello *there*"),
            (second, "stream", (), general.id, "lunch plans", "noon?"),
        ]
        with pytest.raises(BadRequest, match="too long"):
            await api.send_private([alice.id], "x" * 101)
        with pytest.raises(BadRequest, match="does not exist"):
            await api.send_stream(999, "t", "hi")
        calls = len(fake.calls)
        for bad in ("", "  \n", "nul\x00", "\ud800"):
            with pytest.raises(ValueError):
                await api.send_private([alice.id], bad)
        with pytest.raises(ValueError):
            await api.send_private([], "hi")
        assert len(fake.calls) == calls  # refused before any request


async def test_downloads_are_capped_and_refusals_are_permanent() -> None:
    async with serve_fake_zulip() as fake, client_for(fake) as api:
        path = fake.add_upload(b"%PDF-1.7 content", "report.pdf")
        assert await api.download(path, max_bytes=1024) == b"%PDF-1.7 content"
        assert fake.downloads[-1].authenticated
        with pytest.raises(FileTooLarge):
            await api.download(path, max_bytes=4)
        with pytest.raises(BadRequest):
            await api.download("/user_uploads/2/00/none/missing.pdf", max_bytes=1024)
        for bad in ("/etc/passwd", "/user_uploads/../x", "/user_uploads/a?b", "/user_uploads/"):
            assert upload_path_problem(bad) is not None
            with pytest.raises(ValueError):
                await api.download(bad, max_bytes=10)


async def test_a_download_follows_one_redirect_and_never_sends_credentials_off_site() -> None:
    seen: list[tuple[str, str | None]] = []

    async def storage(request: HttpRequest) -> HttpResponse:
        seen.append((request.path, request.headers.get("authorization")))
        return HttpResponse(status=200, body=b"from storage")

    async with serve_http(storage) as other:

        async def site(request: HttpRequest) -> HttpResponse:
            seen.append((request.path, request.headers.get("authorization")))
            if request.path == "/user_uploads/2/a/same.txt":
                return HttpResponse(status=302, headers={"location": "/user_uploads/2/b/real.txt"})
            if request.path == "/user_uploads/2/a/away.txt":
                return HttpResponse(status=302, headers={"location": f"{other.base_url}/s3"})
            return HttpResponse(status=200, body=b"on site")

        async with serve_http(site) as server, httpx.AsyncClient(trust_env=False) as client:
            api = ZulipApi(client=client, site=server.base_url, email="b@x.org", api_key="k" * 32)
            assert await api.download("/user_uploads/2/a/same.txt", max_bytes=100) == b"on site"
            assert [path for path, _ in seen] == [
                "/user_uploads/2/a/same.txt",
                "/user_uploads/2/b/real.txt",
            ]
            assert all(auth is not None for _, auth in seen)
            with pytest.raises(BadRequest, match="redirected off https"):
                await api.download("/user_uploads/2/a/away.txt", max_bytes=100)
    assert "/s3" not in [path for path, _ in seen]


async def test_an_oversized_or_non_json_answer_is_network_trouble() -> None:
    async def huge(request: HttpRequest) -> HttpResponse:
        if request.path.endswith("users/me"):
            return HttpResponse(status=200, body=b"{" + b" " * 5000 + b"}")
        return HttpResponse(status=200, body=b"<html>login</html>")

    async with serve_http(huge) as server, httpx.AsyncClient(trust_env=False) as client:
        api = ZulipApi(
            client=client,
            site=server.base_url,
            email="b@x.org",
            api_key="k" * 32,
            max_answer_bytes=1000,
        )
        with pytest.raises(NetworkTrouble, match="more than 1000 bytes"):
            await api.get_me()
        with pytest.raises(NetworkTrouble, match="not Zulip's JSON"):
            await api.register()


@pytest.mark.parametrize(
    ("site", "complaint"),
    [
        ("http://zulip.example.com", "must use https"),
        ("https://zulip.example.com/zulip", "root URL"),
        ("https://user:pw@zulip.example.com", "root URL"),
        ("https://zulip.example.com/?x=1", "root URL"),
        ("ftp://zulip.example.com", "https URL"),
        ("zulip.example.com", "https URL"),
    ],
)
def test_a_site_that_is_not_an_https_root_is_refused(site: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        ZulipApi(client=httpx.AsyncClient(), site=site, email="b@x.org", api_key="k" * 32)


def test_loopback_http_a_trailing_slash_and_bad_credentials() -> None:
    client = httpx.AsyncClient()
    api = ZulipApi(client=client, site="http://127.0.0.1:9/", email="b@x.org", api_key="k" * 32)
    assert api.site == "http://127.0.0.1:9"
    for email in ("bot", "b@x@y", "b c@x.org", "b:c@x.org"):
        with pytest.raises(ValueError, match="email"):
            ZulipApi(client=client, site=api.site, email=email, api_key="k" * 32)
    with pytest.raises(ValueError, match="API key") as refused:
        ZulipApi(client=client, site=api.site, email="b@x.org", api_key="secret key value")
    assert "secret key value" not in str(refused.value)
