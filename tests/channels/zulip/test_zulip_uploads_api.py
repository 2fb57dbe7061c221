"""Uploading to Zulip: the client's `upload`, the upload limit from `register`
and the queue file, the fake's `user_uploads` endpoint, and how a file name
is shown in a link."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from autobot.channels.zulip.api import (
    DEFAULT_MAX_UPLOAD_MIB,
    BadRequest,
    NetworkTrouble,
    RateLimited,
    Unauthorized,
    ZulipApi,
)
from autobot.channels.zulip.outbound_files import (
    MAX_OUTBOUND_BYTES,
    NotSent,
    Uploaded,
    links_text,
    not_sent_text,
    upload_limit,
)
from autobot.channels.zulip.queue import QueueState, decode_state, encode_state
from autobot.channels.zulip.render import ZERO_WIDTH_SPACE, markdown_literal
from autobot.config.secret import Secret
from autobot.testing.fake_zulip import FakeZulip, serve_fake_zulip
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.zulip.faults import Fault
from autobot.testing.zulip.uploads import sanitize_name

MIB = 1024 * 1024


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def client_for(site: str, email: str, api_key: str) -> AsyncIterator[ZulipApi]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield ZulipApi(client=client, site=site, email=email, api_key=Secret(api_key))


def bot_client(fake: FakeZulip) -> Any:
    return client_for(fake.base_url, fake.bot.email, fake.api_key)


async def test_an_upload_answers_its_path_and_the_link_serves_the_file(
    clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_zulip() as fake, bot_client(fake) as api:
        path = await api.upload("Q3 report (final).pdf", b"%PDF-1.7\x00\xff")
        assert await api.download(path, max_bytes=100) == b"%PDF-1.7\x00\xff"
        [call] = fake.calls_to("user_uploads")
        assert (call.http_method, call.auth_ok) == ("POST", True)
    [upload] = fake.uploaded
    assert (upload.path, upload.file_name, upload.content) == (
        path,
        "Q3 report (final).pdf",
        b"%PDF-1.7\x00\xff",
    )
    assert upload.content_type == "application/pdf"
    assert path.startswith("/user_uploads/2/") and path.endswith("/Q3-report-final.pdf")


async def test_a_server_before_zulip_9_answers_uri_only(clock: trio.testing.MockClock) -> None:
    async with serve_fake_zulip() as fake, bot_client(fake) as api:
        fake.answers_url = False
        path = await api.upload("a.txt", b"a")
    assert path == fake.uploaded[0].path


@pytest.mark.parametrize(
    ("answer", "linked"),
    [
        ({"url": "/user_uploads/2/ab/x/new.txt", "uri": "/user_uploads/2/ab/x/old.txt"}, "new"),
        ({"uri": "/user_uploads/2/ab/x/old.txt"}, "old"),
        ({"url": "https://evil.example/user_uploads/2/ab/x/a.txt"}, None),
        ({"url": "/user_uploads/2/../../api/v1/x"}, None),
        ({"url": "/user_uploads/2/ab/x/a.txt) [click](https://evil.example"}, None),
        ({"url": "/user_uploads/2/ab/x/a.txt", "uri": None}, "a"),
        ({"url": None, "uri": "/user_uploads/2/ab/x/a.txt"}, None),  # url preferred, unusable
        ({}, None),
    ],
)
async def test_only_a_plain_user_uploads_path_is_ever_linked(
    answer: dict[str, Any], linked: str | None
) -> None:
    async def server(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"result": "success", "msg": "", **answer})

    async with (
        serve_http(server) as served,
        client_for(served.base_url, "b@x.org", "k" * 32) as api,
    ):
        if linked is None:
            with pytest.raises(NetworkTrouble, match="no usable /user_uploads/ path"):
                await api.upload("a.txt", b"a")
        else:
            assert (await api.upload("a.txt", b"a")).endswith(f"/{linked}.txt")


async def test_refusals_of_an_upload(clock: trio.testing.MockClock) -> None:
    async with serve_fake_zulip(max_upload_mib=1) as fake, bot_client(fake) as api:
        with pytest.raises(BadRequest) as refused:
            await api.upload("big.bin", b"x" * (MIB + 1))
        assert refused.value.msg == "Uploaded file is larger than the allowed limit of 1 MiB"
        assert (refused.value.status, refused.value.code) == (400, "BAD_REQUEST")
        assert len(await api.upload("fits.bin", b"x" * MIB)) > 0
        fake.fail_next("user_uploads", Fault.rate_limited(4.0))
        with pytest.raises(RateLimited) as limited:
            await api.upload("a.txt", b"a")
        assert limited.value.retry_after == 4.0
        with pytest.raises(ValueError, match="NUL"):
            await api.upload("a\x00.txt", b"a")
        with pytest.raises(ValueError, match="empty"):
            await api.upload("", b"a")
        fake.revoke_api_key()
        with pytest.raises(Unauthorized):
            await api.upload("a.txt", b"a")
    assert [u.file_name for u in fake.uploaded] == ["fits.bin"]


async def test_the_fake_reads_uploads_as_the_real_server_does(
    clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_zulip() as fake, httpx.AsyncClient(trust_env=False) as client:
        url = f"{fake.base_url}/api/v1/user_uploads"
        auth = (fake.bot.email, fake.api_key)
        anonymous = await client.post(url, files={"file": ("a.txt", b"a")})
        form = await client.post(url, data={"file": "a"}, auth=auth)
        two = await client.post(url, files=[("a", ("a", b"a")), ("b", ("b", b"b"))], auth=auth)
        one = await client.post(url, files={"f": ("@**all** ../x y.txt", b"y")}, auth=auth)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "UNAUTHORIZED")
    assert (form.status_code, form.json()["msg"]) == (400, "You must specify a file to upload")
    assert (two.status_code, two.json()["msg"]) == (400, "You may only upload one file at a time")
    body = one.json()
    assert one.status_code == 200 and body["url"] == body["uri"] == fake.uploaded[0].path
    assert body["url"].endswith("/all-..x-y.txt") and len(fake.uploaded) == 1


def test_zulip_sanitizes_stored_names() -> None:
    assert sanitize_name("Q3 report (final).pdf") == "Q3-report-final.pdf"
    assert sanitize_name("..") == "uploaded-file"
    assert sanitize_name("\uff46ull  width") == "full-width"  # NFKC


async def test_register_gives_the_upload_limit(clock: trio.testing.MockClock) -> None:
    async with serve_fake_zulip(max_upload_mib=7) as fake, bot_client(fake) as api:
        assert (await api.register()).max_upload_mib == 7


@pytest.mark.parametrize(
    ("realm", "limit"),
    [({}, DEFAULT_MAX_UPLOAD_MIB), ({"max_file_upload_size_mib": 0}, 0)],
)
async def test_an_absent_limit_is_zulips_default(realm: dict[str, Any], limit: int) -> None:
    async def server(request: HttpRequest) -> HttpResponse:
        answer = {"result": "success", "msg": "", "queue_id": "q:1", "last_event_id": -1}
        return HttpResponse.json(200, {**answer, **realm})

    async with (
        serve_http(server) as served,
        client_for(served.base_url, "b@x.org", "k" * 32) as api,
    ):
        assert (await api.register()).max_upload_mib == limit


@pytest.mark.parametrize("value", [-1, 1.5, "25", True, 10**7])
async def test_an_unusable_limit_is_refused(value: object) -> None:
    async def server(request: HttpRequest) -> HttpResponse:
        answer = {"result": "success", "msg": "", "queue_id": "q:1", "last_event_id": -1}
        return HttpResponse.json(200, {**answer, "max_file_upload_size_mib": value})

    async with (
        serve_http(server) as served,
        client_for(served.base_url, "b@x.org", "k" * 32) as api,
    ):
        with pytest.raises(NetworkTrouble, match="max_file_upload_size_mib"):
            await api.register()


STATE = QueueState(
    queue_id="1767225600:1",
    last_event_id=41,
    longpoll_seconds=90.0,
    max_message_length=10_000,
    saved_at=1_767_225_600.5,
    max_upload_mib=10,
)


def test_the_queue_file_keeps_the_upload_limit() -> None:
    assert decode_state(encode_state(STATE)) == STATE
    fields = json.loads(encode_state(STATE))
    del fields["max_upload_mib"]  # a file saved before the limit was kept
    older = decode_state(json.dumps(fields).encode())
    assert older.max_upload_mib == DEFAULT_MAX_UPLOAD_MIB
    with pytest.raises(ValueError, match="max_upload_mib"):
        decode_state(encode_state(STATE).replace(b'"max_upload_mib": 10', b'"max_upload_mib": -1'))


def test_the_limit_read_with_is_the_servers_capped_in_memory() -> None:
    assert upload_limit(1) == MIB
    assert upload_limit(25) == 25 * MIB
    assert upload_limit(1000) == MAX_OUTBOUND_BYTES


def test_a_file_name_is_shown_literally() -> None:
    assert markdown_literal("plain name") == "plain name"
    assert markdown_literal("@**all**") == f"@{ZERO_WIDTH_SPACE}\\*\\*all\\*\\*"
    assert markdown_literal("a](b)[c") == "a\\]\\(b\\)\\[c"
    assert markdown_literal("x\r\ny\u2028z\x00") == "x y z "
    assert markdown_literal("\ud800.txt") == "\ufffd\\.txt"
    assert markdown_literal("\\`_~") == "\\\\\\`\\_~"


def test_links_and_sentences() -> None:
    uploaded = [Uploaded(name="a b.txt", path="/user_uploads/2/0/x/a-b.txt")]
    assert links_text(uploaded) == "[a b\\.txt](/user_uploads/2/0/x/a-b.txt)"
    not_sent = [NotSent(path="dir/[x].txt", reason="it is a dotenv file")]
    assert not_sent_text(not_sent) == (
        "(I could not send the file dir/\\[x\\]\\.txt: it is a dotenv file.)"
    )
