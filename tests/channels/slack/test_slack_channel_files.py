"""Files people send the Slack bot: downloaded with the bot token into `workspace/inbox/`.

Downloads go only to Slack (a redirect elsewhere is refused and the other
host sees nothing), are capped at `max_file_bytes`, stored under generated
names (0600, never through a symlink), and a file that cannot be saved is
named in the message instead: the message itself always arrives.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.base import AttachmentKind
from autobot.logs.records import Level
from autobot.testing.fake_slack import FakeSlack, serve_fake_slack
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http
from autobot.testing.slack_channel import SlackRun, channel_config, run_slack_channel
from autobot.testing.telegram_channel import patient_clock


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def running(tmp_path: Path, max_file_bytes: int = 1000) -> AsyncIterator[SlackRun]:
    async with serve_fake_slack() as fake:
        fake.add_user("U1001", "alice")
        config = channel_config(fake, allow_from=("U1001",), max_file_bytes=max_file_bytes)
        async with run_slack_channel(config, fake, bot_dir=tmp_path) as run:
            await run.connected(1)
            yield run


def alice(fake: FakeSlack) -> object:
    return fake.users["U1001"]


async def test_a_file_with_a_caption_lands_in_the_inbox(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        pdf = run.slack.add_file(
            b"%PDF-1.7 report", name="Q3 report.pdf", mimetype="application/pdf"
        )
        png = run.slack.add_file(b"\x89PNG", name="../../evil.sh", mimetype="image/png")
        ts = run.slack.post_dm(run.slack.users["U1001"], "have a look", files=[pdf, png])
        message = await run.routed.receive()
    first, second = message.attachments
    assert message.content == "have a look"
    assert first.path == f"inbox/slack-D1001-{ts.replace('.', '-')}-1.pdf"
    assert (first.kind, first.mime_type, first.size) == (
        AttachmentKind.DOCUMENT,
        "application/pdf",
        15,
    )
    assert second.path == f"inbox/slack-D1001-{ts.replace('.', '-')}-2.png"  # not the sender's name
    assert second.kind is AttachmentKind.PHOTO
    stored = run.workspace / first.path
    assert stored.read_bytes() == b"%PDF-1.7 report"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert [d.authorized for d in run.slack.downloads] == [True, True]


async def test_a_file_only_message_arrives_with_its_file(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        doc = run.slack.add_file(b"a,b\n1,2\n", name="data.csv", mimetype="text/csv")
        run.slack.post_dm(run.slack.users["U1001"], "", files=[doc])
        message = await run.routed.receive()
    assert message.content == ""
    [attachment] = message.attachments
    assert attachment.path.endswith("-1.csv")


async def test_files_that_cannot_be_saved_are_named_and_the_message_still_arrives(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    stolen: list[HttpRequest] = []

    async def elsewhere(request: HttpRequest) -> HttpResponse:
        stolen.append(request)
        return HttpResponse(status=200, body=b"x")

    async with serve_http(elsewhere) as other, running(tmp_path) as run:
        big = run.slack.add_file(b"x" * 10, name="big.bin", size=5000)
        liar = run.slack.add_file(b"y" * 2000, name="liar.bin", size=10)
        moved = run.slack.add_file(b"", name="moved.txt", redirect_to=f"{other.base_url}/x")
        fine = run.slack.add_file(b"ok", name="fine.txt", mimetype="text/plain")
        run.slack.post_dm(run.slack.users["U1001"], "four files", files=[big, liar, moved, fine])
        message = await run.routed.receive()
        warnings = run.logged(Level.WARN, "slack file not saved")
    assert message.content == "four files\n[files not received: big.bin, liar.bin, moved.txt]"
    [saved] = message.attachments
    assert (run.workspace / saved.path).read_bytes() == b"ok"
    reasons = [dict(w.fields)["reason"] for w in warnings]
    assert "5000 bytes, more than 1000" in reasons[0]
    assert "larger than 1000 bytes" in reasons[1]
    assert "file_url_refused" in reasons[2]
    assert stolen == []
    assert len(run.slack.downloads) == 3  # the announced-too-large file was never fetched
    assert sorted(os.listdir(run.workspace / "inbox")) == [Path(saved.path).name]


async def test_a_symlinked_inbox_is_never_written_through(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    async with running(tmp_path) as run:
        os.symlink(outside, run.workspace / "inbox")
        doc = run.slack.add_file(b"payload", name="a.txt", mimetype="text/plain")
        run.slack.post_dm(run.slack.users["U1001"], "here", files=[doc])
        message = await run.routed.receive()
    assert message.attachments == ()
    assert message.content == "here\n[files not received: a.txt]"
    assert os.listdir(outside) == []
