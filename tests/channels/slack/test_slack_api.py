"""`SlackApi` against the loopback fake, and the pure answer and URL rules it uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
import trio.testing

from autobot.channels.slack.api import SlackApi
from autobot.channels.slack.errors import (
    AuthFailed,
    FileTooLarge,
    NetworkTrouble,
    RateLimited,
    Refused,
    ServerError,
    SlackError,
    answer_result,
    is_transient,
)
from autobot.channels.slack.tokens import check_token
from autobot.channels.slack.urls import (
    check_api_base,
    file_url_allowed,
    is_slack_host,
    socket_url_allowed,
)
from autobot.config.secret import Secret
from autobot.testing.fake_slack import BOT_USER_ID, FakeSlack, serve_fake_slack
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.slack.faults import Fault


@asynccontextmanager
async def api_for(fake: FakeSlack, **options: float) -> AsyncIterator[SlackApi]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield SlackApi(
            client=client,
            api_base=fake.api_base,
            bot_token=Secret(fake.bot_token),
            app_token=Secret(fake.app_token),
            **options,
        )


async def test_auth_test_and_open_use_their_own_token_in_the_header() -> None:
    async with serve_fake_slack() as fake, api_for(fake) as api:
        bot = await api.auth_test()
        url = await api.open_connection()
    assert (bot.user_id, bot.bot_id, bot.team_id) == (BOT_USER_ID, fake.bot_id, "T0FAKE01")
    assert url.startswith(f"ws://127.0.0.1:{fake.socket_port}/link/?ticket=")
    assert [(c.method, c.token) for c in fake.calls] == [
        ("auth.test", "bot"),
        ("apps.connections.open", "app"),
    ]


async def test_post_message_turns_slack_parsing_linking_and_unfurling_off() -> None:
    async with serve_fake_slack() as fake, api_for(fake) as api:
        alice = fake.add_user("U1001", "alice")
        ts = await api.post_message(alice.dm, "hi &lt;there&gt;", thread_ts="1767225600.000001")
    [posted] = fake.posted
    assert posted.ts == ts and posted.thread_ts == "1767225600.000001"
    assert posted.arguments["parse"] == "none" and posted.arguments["link_names"] is False
    assert posted.arguments["unfurl_links"] is False and posted.arguments["unfurl_media"] is False


@pytest.mark.parametrize(
    ("fault", "kind", "error", "retry_after"),
    [
        (Fault.slack_error("invalid_auth"), AuthFailed, "invalid_auth", None),
        (Fault.slack_error("account_inactive"), AuthFailed, "account_inactive", None),
        (Fault.slack_error("channel_not_found"), SlackError, "channel_not_found", None),
        (Fault.rate_limited(7), RateLimited, "ratelimited", 7.0),
        (Fault.rate_limited(None, status=200), RateLimited, "ratelimited", None),
        (Fault.server_error(503), ServerError, "server_error", None),
        (Fault.slack_error("internal_error"), ServerError, "internal_error", None),
        (Fault.dropped_connection(), NetworkTrouble, "network", None),
    ],
)
async def test_error_answers_are_classified(
    fault: Fault, kind: type[SlackError], error: str, retry_after: float | None
) -> None:
    async with serve_fake_slack() as fake, api_for(fake) as api:
        alice = fake.add_user("U1001", "alice")
        fake.fail_next("chat.postMessage", fault)
        with pytest.raises(kind) as raised:
            await api.post_message(alice.dm, "hello")
    assert type(raised.value) is kind
    assert raised.value.error == error and raised.value.retry_after == retry_after
    assert is_transient(raised.value) is (kind in (RateLimited, ServerError, NetworkTrouble))
    assert fake.bot_token not in str(raised.value)


async def test_a_call_is_bounded_as_a_whole(autojump_clock: trio.testing.MockClock) -> None:
    async with serve_fake_slack() as fake, api_for(fake, call_timeout=12.0) as api:
        fake.fail_next("auth.test", Fault.stall())
        start = trio.current_time()
        with pytest.raises(NetworkTrouble, match="timeout: 12 s"):
            await api.auth_test()
        assert trio.current_time() - start == 12.0


async def test_tokens_of_the_wrong_kind_are_refused_without_echoing_them() -> None:
    async with httpx.AsyncClient() as client:
        for bot, app, key in (
            ("xapp-1-A1-123456789-secretvalue", None, "the bot token"),
            ("xoxb-12345678-secretvalue", "xoxb-12345678-secretvalue", "the app token"),
            ("xoxp-12345678-secretvalue", None, "the bot token"),
        ):
            with pytest.raises(ValueError, match=key) as raised:
                SlackApi(
                    client=client,
                    api_base="https://slack.com/api",
                    bot_token=Secret(bot),
                    app_token=None if app is None else Secret(app),
                )
            assert "secretvalue" not in str(raised.value)
    with pytest.raises(ValueError, match=r"channels\.slack\.app_token is not set"):
        check_token(None, "xapp-", "channels.slack.app_token")


async def test_a_wrong_token_kind_is_refused_by_slack_too() -> None:
    async with serve_fake_slack() as fake, httpx.AsyncClient() as client:
        api = SlackApi(
            client=client,
            api_base=fake.api_base,
            bot_token=Secret(fake.bot_token),
            app_token=Secret("xapp-1-A0FAKE01-3000000003-notthefakesapptoken"),
        )
        with pytest.raises(AuthFailed, match="invalid_auth"):
            await api.open_connection()


async def test_download_sends_the_token_only_to_slack() -> None:
    stolen: list[HttpRequest] = []

    async def evil(request: HttpRequest) -> HttpResponse:
        stolen.append(request)
        return HttpResponse(status=200, body=b"gotcha")

    async with serve_http(evil) as other, serve_fake_slack() as fake, api_for(fake) as api:
        plain = fake.add_file(b"report", name="r.txt")
        redirected = fake.add_file(b"", name="x.txt", redirect_to=f"{other.base_url}/steal")
        same_origin = fake.add_file(b"", name="y.txt", redirect_to=plain["url_private_download"])
        assert await api.download(plain["url_private_download"], max_bytes=100) == b"report"
        assert await api.download(same_origin["url_private_download"], max_bytes=100) == b"report"
        with pytest.raises(Refused, match="file_url_refused"):
            await api.download(redirected["url_private_download"], max_bytes=100)
        with pytest.raises(Refused, match="file_url_refused"):
            await api.download(f"{other.base_url}/file", max_bytes=100)
        with pytest.raises(Refused, match="file_url_refused"):
            await api.download("http://files.slack.com/x", max_bytes=100)
    assert stolen == []  # the other host never saw a request, let alone the token
    assert all(d.authorized for d in fake.downloads)


async def test_download_is_capped_and_redirect_loops_end() -> None:
    async with serve_fake_slack() as fake, api_for(fake) as api:
        big = fake.add_file(b"x" * 1000, name="big.bin")
        with pytest.raises(FileTooLarge, match="larger than 999 bytes"):
            await api.download(big["url_private_download"], max_bytes=999)
        loop = fake.add_file(b"", name="loop.txt")
        fake.files[loop["url_private_download"].removeprefix(fake.base_url)].redirect_to = loop[
            "url_private_download"
        ]
        with pytest.raises(Refused, match="too_many_redirects"):
            await api.download(loop["url_private_download"], max_bytes=10)


async def test_upload_reserves_posts_and_shares_in_the_thread() -> None:
    async with serve_fake_slack() as fake, api_for(fake) as api:
        fake.add_channel("C1")
        file_id = await api.upload_file("C1", "notes.txt", b"hello", thread_ts="1767225600.000009")
    [upload] = fake.uploads
    assert (upload.file_id, upload.title, upload.data) == (file_id, "notes.txt", b"hello")
    assert (upload.channel, upload.thread_ts) == ("C1", "1767225600.000009")
    with pytest.raises(ValueError, match="file name"):
        async with serve_fake_slack() as fake, api_for(fake) as api:
            await api.upload_file("C1", "../x", b"x")


def test_answer_result() -> None:
    assert answer_result("m", 200, {}, b'{"ok":true,"x":1}') == {"ok": True, "x": 1}
    with pytest.raises(NetworkTrouble, match="not_slack_json"):
        answer_result("m", 200, {}, b"<html>")
    with pytest.raises(ServerError):
        answer_result("m", 502, {}, b"<html>")
    with pytest.raises(SlackError, match="unreadable_error") as raised:
        answer_result("m", 200, {}, b'{"ok":false,"error":"<script>xoxb-123</script>"}')
    assert "xoxb" not in str(raised.value)
    with pytest.raises(RateLimited) as limited:
        answer_result("m", 429, {"retry-after": "30"}, b"")
    assert limited.value.retry_after == 30.0
    with pytest.raises(RateLimited) as limited:
        answer_result("m", 429, {"retry-after": "soon"}, b"")
    assert limited.value.retry_after is None


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://files.slack.com/files-pri/T1-F1/download/a.txt", True),
        ("https://slack.com/x", True),
        ("https://files.slack-edge.com/x", True),
        ("https://files.slack.com:8443/x", False),
        ("http://files.slack.com/x", False),
        ("https://slack.com.evil.example/x", False),
        ("https://evilslack.com/x", False),
        ("https://user:pw@files.slack.com/x", False),
        ("http://127.0.0.1:8000/files-pri/x", True),  # the API base's own origin (the fake)
        ("http://127.0.0.1:8001/files-pri/x", False),
        ("https://127.0.0.1:8000/x", False),
        ("not a url", False),
    ],
)
def test_file_url_allowed(url: str, allowed: bool) -> None:
    assert file_url_allowed(url, "http://127.0.0.1:8000/api") is allowed


def test_socket_and_api_base_rules() -> None:
    assert socket_url_allowed("wss://wss-primary.slack.com/link/?ticket=x")
    assert socket_url_allowed("ws://127.0.0.1:9/link/?ticket=x")
    assert not socket_url_allowed("ws://wss-primary.slack.com/link/")
    assert not socket_url_allowed("wss://evil.example/link/")
    assert not socket_url_allowed("https://slack.com/")
    assert check_api_base("https://slack.com/api/") == "https://slack.com/api"
    assert check_api_base("http://localhost:1/api") == "http://localhost:1/api"
    for bad in ("http://slack.com/api", "ftp://x", "https://u:p@slack.com/api", "https://s/?q"):
        with pytest.raises(ValueError, match="api_base"):
            check_api_base(bad)
    assert is_slack_host("FILES.Slack.COM.") and not is_slack_host("slack.co")
