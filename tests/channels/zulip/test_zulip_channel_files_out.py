"""Files a reply attaches: uploaded to Zulip and linked after the reply's text.

The real channel under the channel supervisor, against the loopback Zulip
fake; the test plays the session router (`harness`). Each file is read
through the workspace (check and use in one step), uploaded once
(`POST /user_uploads`), and linked in one message to the same place; a file
that cannot be sent is a WARN and a sentence to the chat, and the reply's
journal entry is completed as for any reply.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.base import Attachment, AttachmentKind, InboundMessage
from autobot.channels.zulip.render import ZERO_WIDTH_SPACE
from autobot.logs.records import Level
from autobot.testing.fake_zulip import FakeZulip, serve_fake_zulip
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.zulip.faults import Fault
from autobot.testing.zulip.records import SentMessage, ZulipUser

from .harness import ZulipRun, run_zulip_channel, zulip_config

ALICE_ID = 101
MIB = 1024 * 1024


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeZulip]:
    async with serve_fake_zulip(max_upload_mib=1) as served:
        served.add_user("Alice", "alice@example.com", user_id=ALICE_ID)
        yield served


def files(*paths: str) -> tuple[Attachment, ...]:
    return tuple(Attachment(kind=AttachmentKind.DOCUMENT, path=path) for path in paths)


async def asked(run: ZulipRun, alice: ZulipUser) -> InboundMessage:
    run.zulip.send_direct(alice, "send me the files")
    return await run.routed.receive()


async def replied(run: ZulipRun, alice: ZulipUser, count: int) -> list[SentMessage]:
    """The bot's first `count` direct messages to Alice, once its journal is empty."""
    fake = run.zulip
    await fake.until(lambda: len(fake.direct_to(alice)) >= count)
    await run.backlog_is(0)
    return fake.direct_to(alice)


async def test_a_file_arrives_as_a_link_after_the_text(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    content = bytes(range(256)) * 40
    config = zulip_config(fake, allow_from=(str(ALICE_ID),))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / "out").mkdir()
        (run.workspace / "out" / "report 2024.pdf").write_bytes(content)
        (run.workspace / "notes.txt").write_bytes(b"")
        message = await asked(run, alice)
        await run.reply(message, "Here they are.", attachments=files("out/report 2024.pdf"))
        text, links = await replied(run, alice, 2)
        second = await asked(run, alice)
        await run.reply(second, "And an empty one.", attachments=files("notes.txt"))
        *_, empty = await replied(run, alice, 4)
    assert text.content == "Here they are."
    [upload, empty_upload] = fake.uploaded
    assert upload.content == content and upload.file_name == "report 2024.pdf"
    assert upload.path.endswith("/report-2024.pdf")
    assert links.content == f"[report 2024\\.pdf]({upload.path})"
    assert links.at >= text.at and links.id > text.id
    assert fake.uploads[upload.path] == content  # the link serves what was uploaded
    assert empty_upload.content == b"" and empty.content == f"[notes\\.txt]({empty_upload.path})"
    assert not run.logged(Level.WARN, "zulip attachment not sent")


async def test_links_go_to_the_stream_topic_of_the_conversation(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    stream = fake.add_stream("general")
    config = zulip_config(fake, allow_from=(str(ALICE_ID),), streams=("general",))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / "a.csv").write_bytes(b"a,b\n")
        (run.workspace / "b.csv").write_bytes(b"c,d\n")
        fake.send_stream(alice, stream, "lunch", "@**Autobot** the tables please")
        message = await run.routed.receive()
        await run.reply(message, "Both tables.", attachments=files("a.csv", "b.csv"))
        await fake.until(lambda: len(fake.in_topic(stream, "lunch")) >= 2)
        await run.backlog_is(0)
    text, links = fake.in_topic(stream, "lunch")
    first, second = fake.uploaded
    assert text.content == "Both tables."
    assert links.content == f"[a\\.csv]({first.path})\n[b\\.csv]({second.path})"
    assert not fake.direct_to(alice)


async def test_files_the_workspace_refuses_are_named_and_never_uploaded(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"host secret")
    config = zulip_config(fake, allow_from=(str(ALICE_ID),))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        workspace = run.workspace
        os.symlink(outside, workspace / "link.txt")
        os.symlink(tmp_path, workspace / "up")
        (workspace / ".env").write_text("ZULIP_API_KEY=x\n")
        os.mkfifo(workspace / "pipe")
        (workspace / "big.bin").write_bytes(b"x" * (MIB + 1))
        (workspace / "ok.txt").write_bytes(b"fine")
        message = await asked(run, alice)
        attached = files("link.txt", ".env", "pipe", "../secret.txt", "up/secret.txt", "big.bin")
        await run.reply(message, "Tried.", attachments=(*attached, *files("ok.txt")))
        text, links, told = await replied(run, alice, 3)
        warnings = run.logged(Level.WARN, "zulip attachment not sent")
    [upload] = fake.uploaded
    assert upload.content == b"fine"
    assert (text.content, links.content) == ("Tried.", f"[ok\\.txt]({upload.path})")
    assert told.content.split("\n") == [
        "(I could not send the file link\\.txt: it, or a directory on its way, is a symlink.)",
        "(I could not send the file \\.env: it is a dotenv file.)",
        "(I could not send the file pipe: it is not a regular file.)",
        "(I could not send the file \\.\\./secret\\.txt: has a '\\.\\.' component.)",
        "(I could not send the file up/secret\\.txt: it, or a directory on its way, is a symlink.)",
        "(I could not send the file big\\.bin: it is larger than 1 MB.)",
    ]
    assert str(tmp_path) not in told.content
    assert [dict(w.fields)["path"] for w in warnings] == [path.path for path in attached]
    assert all(dict(w.fields)["chat_id"] == str(ALICE_ID) for w in warnings)


async def test_a_rate_limited_upload_is_waited_out_at_its_retry_after(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    config = zulip_config(fake, allow_from=(str(ALICE_ID),))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / "chart.png").write_bytes(b"\x89PNG chart")
        message = await asked(run, alice)
        fake.fail_next("user_uploads", Fault.rate_limited(7.5), count=2)
        await run.reply(message, "The chart.", attachments=files("chart.png"))
        _, links = await replied(run, alice, 2)
    first, second, third = fake.calls_to("user_uploads")
    assert (second.at - first.at, third.at - second.at) == (7.5, 7.5)
    [upload] = fake.uploaded
    assert upload.at == third.at and upload.content == b"\x89PNG chart"
    assert links.content == f"[chart\\.png]({upload.path})"


async def test_an_upload_limited_too_often_or_too_long_is_given_up(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    config = zulip_config(fake, allow_from=(str(ALICE_ID),))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / "a.txt").write_bytes(b"a")
        (run.workspace / "b.txt").write_bytes(b"b")
        message = await asked(run, alice)
        fake.fail_next("user_uploads", Fault.rate_limited(1.0), count=4)
        fake.fail_next("user_uploads", Fault.rate_limited(3600.0))
        await run.reply(message, "Two.", attachments=files("a.txt", "b.txt"))
        _, told = await replied(run, alice, 2)
    assert told.content.split("\n") == [
        "(I could not send the file a\\.txt: Zulip kept asking to wait.)",
        "(I could not send the file b\\.txt: Zulip refused it: API usage exceeded rate limit.)",
    ]
    assert not fake.uploaded and len(fake.calls_to("user_uploads")) == 5


async def test_a_file_zulip_refuses_is_named_with_zulips_reason(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    config = zulip_config(fake, allow_from=(str(ALICE_ID),))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / "data.bin").write_bytes(b"y" * 1000)
        message = await asked(run, alice)
        fake.max_upload_mib = 0  # the administrator lowered the limit since the bot registered
        await run.reply(message, "The data.", attachments=files("data.bin"))
        _, told = await replied(run, alice, 2)
        [warning] = run.logged(Level.WARN, "zulip attachment not sent")
    reason = "Zulip refused it: Uploaded file is larger than the allowed limit of 0 MiB"
    assert told.content == f"(I could not send the file data\\.bin: {reason}.)"
    assert dict(warning.fields)["reason"] == reason
    assert len(fake.calls_to("user_uploads")) == 1 and not fake.uploaded


async def test_an_upload_cut_short_is_not_tried_again(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip
) -> None:
    alice = fake.users[ALICE_ID]
    config = zulip_config(fake, allow_from=(str(ALICE_ID),))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / "data.bin").write_bytes(b"z")
        message = await asked(run, alice)
        fake.fail_next("user_uploads", Fault.server_error(502))
        await run.reply(message, "The data.", attachments=files("data.bin"))
        _, told = await replied(run, alice, 2)
    assert told.content.startswith("(I could not send the file data\\.bin: the upload failed:")
    assert len(fake.calls_to("user_uploads")) == 1


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("@**all**.txt", f"@{ZERO_WIDTH_SPACE}\\*\\*all\\*\\*\\.txt"),
        ("x](https:evil.example)[y", "x\\]\\(https:evil\\.example\\)\\[y"),
        ("@_*admins* #**general**", f"@{ZERO_WIDTH_SPACE}\\_\\*admins\\* \\#\\*\\*general\\*\\*"),
        ("two\nlines`code`", "two lines\\`code\\`"),
    ],
)
async def test_a_file_name_cannot_ping_or_break_its_link(
    tmp_path: Path, clock: trio.testing.MockClock, fake: FakeZulip, name: str, shown: str
) -> None:
    alice = fake.users[ALICE_ID]
    stream = fake.add_stream("general")
    config = zulip_config(fake, allow_from=(str(ALICE_ID),), streams=("general",))
    async with run_zulip_channel(config, fake, bot_dir=tmp_path) as run:
        (run.workspace / name).write_bytes(b"payload")
        fake.send_stream(alice, stream, "t", "@**Autobot** file?")
        message = await run.routed.receive()
        await run.reply(message, "Here.", attachments=files(name))
        await fake.until(lambda: len(fake.in_topic(stream, "t")) >= 2)
        await run.backlog_is(0)
    [upload] = fake.uploaded
    _, links = fake.in_topic(stream, "t")
    assert upload.file_name == name.replace("\n", "%0A")  # httpx's form encoding
    assert links.content == f"[{shown}]({upload.path})"
    for sent in (m for m in fake.messages if m["sender_id"] == fake.bot.id):
        assert fake.flags(sent) == ["read"]  # nobody, no group, no stream mentioned
