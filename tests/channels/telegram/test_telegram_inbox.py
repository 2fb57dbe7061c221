"""Telegram files and the workspace: inbound media saved into `inbox/` from
the loopback Bot API fake, and outbound attachments read back out."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from autobot.channels.base import Attachment, AttachmentKind
from autobot.channels.telegram.api import BotIdentity, ServerError, TelegramApi
from autobot.channels.telegram.inbox import (
    InboxSaver,
    OutboundFile,
    extension_for,
    inbox_name,
    read_attachment,
    store_inbound,
)
from autobot.channels.telegram.updates import MediaRef, TelegramEvent, parse_update
from autobot.logs.records import Level, LogRecord
from autobot.platform.workspace_fs import Refusal, WorkspacePathError
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.logs import capture_logger, drain
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import TelegramChat, TelegramUser

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
GROUP = TelegramChat(id=-1001234, type="supergroup", title="Team")
SECRET = b"TELEGRAM_BOT_TOKEN=123:outside\n"
JPEG = b"\xff\xd8\xff\xe0fake jpeg"


def media(kind: AttachmentKind, **fields: Any) -> MediaRef:
    return MediaRef(kind=kind, file_id="f", **fields)


@pytest.mark.parametrize(
    ("ref", "extension"),
    [
        (media(AttachmentKind.PHOTO), "jpg"),
        (media(AttachmentKind.DOCUMENT, file_name="Report.PDF"), "pdf"),
        (media(AttachmentKind.DOCUMENT, file_name="notes.md", mime_type="text/plain"), "md"),
        (media(AttachmentKind.DOCUMENT, file_name="run.sh", mime_type="application/pdf"), "pdf"),
        (media(AttachmentKind.DOCUMENT, file_name="x.exe", mime_type="application/x-msdos"), "bin"),
        (media(AttachmentKind.DOCUMENT, file_name="../../.env", mime_type="Text/Plain"), "txt"),
        (media(AttachmentKind.DOCUMENT, file_name="a.pdf/../b"), "bin"),
        (media(AttachmentKind.DOCUMENT), "bin"),
        (media(AttachmentKind.VOICE, mime_type="audio/ogg"), "ogg"),
        (media(AttachmentKind.VOICE, mime_type="audio/mpeg"), "mp3"),
        (media(AttachmentKind.VOICE), "ogg"),
    ],
)
def test_the_extension_comes_from_the_allowlist(ref: MediaRef, extension: str) -> None:
    assert extension_for(ref) == extension


def test_names_are_generated_from_ids_only() -> None:
    document = media(AttachmentKind.DOCUMENT, file_name="../../etc/passwd.txt")
    assert inbox_name("1001", 17, media(AttachmentKind.PHOTO)) == "telegram-1001-17-photo.jpg"
    assert inbox_name("-1001234", 5, document) == "telegram--1001234-5-document.txt"
    assert inbox_name("-1001234", 5, document, 3) == "telegram--1001234-5-document-3.txt"
    assert inbox_name("a/../b\n", 1, media(AttachmentKind.VOICE)) == "telegram-a____b_-1-voice.ogg"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(SECRET)
    return tmp_path / "workspace"


@attrs.define
class Setup:
    fake: FakeTelegram
    api: TelegramApi
    saver: InboxSaver
    bot: BotIdentity
    logs: Any

    async def event_for(self, message: dict[str, Any]) -> TelegramEvent:
        [update] = [u for u in self.fake.updates.pending if u["message"] is message]
        event = parse_update(update, self.bot)
        assert event is not None
        return event

    def warnings(self) -> list[LogRecord]:
        return [record for record in drain(self.logs) if record.level is Level.WARN]


@asynccontextmanager
async def saving(workspace: Path, **settings: Any) -> AsyncIterator[Setup]:
    logger, records = capture_logger()
    async with serve_fake_telegram() as fake, httpx.AsyncClient(trust_env=False) as client:
        api = TelegramApi(client=client, api_base=fake.base_url, token=fake.token)
        saver = InboxSaver(api=api, workspace=workspace, logger=logger, **settings)
        yield Setup(fake, api, saver, await api.get_me(), records)


async def test_a_photo_is_saved_as_its_largest_size(workspace: Path) -> None:
    async with saving(workspace) as setup:
        sizes = [(90, 60, b"small"), (1280, 853, JPEG), (320, 213, b"medium")]
        message = setup.fake.post_photo(ALICE, sizes, caption="look")
        attachments = await setup.saver(await setup.event_for(message))
    assert attachments == (
        Attachment(
            kind=AttachmentKind.PHOTO,
            path="inbox/telegram-1001-1-photo.jpg",
            mime_type="image/jpeg",
            size=len(JPEG),
        ),
    )
    saved = workspace / "inbox" / "telegram-1001-1-photo.jpg"
    assert saved.read_bytes() == JPEG
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE((workspace / "inbox").stat().st_mode) == 0o700


async def test_documents_and_voice_notes_get_safe_names(workspace: Path) -> None:
    async with saving(workspace) as setup:
        document = setup.fake.post_document(
            ALICE, b"%PDF", file_name="../../.env.pdf", mime_type="application/pdf", chat=GROUP
        )
        voice = setup.fake.post_voice(ALICE, b"OggS voice", duration=2)
        saved_document = await setup.saver(await setup.event_for(document))
        saved_voice = await setup.saver(await setup.event_for(voice))
        text = await setup.saver(await setup.event_for(setup.fake.post_text(ALICE, "no media")))
    assert [(a.path, a.mime_type, a.size) for a in saved_document + saved_voice] == [
        ("inbox/telegram--1001234-1-document.pdf", "application/pdf", 4),
        ("inbox/telegram-1001-1-voice.ogg", "audio/ogg", 10),
    ]
    assert text == ()
    assert sorted(os.listdir(workspace / "inbox")) == [
        "telegram--1001234-1-document.pdf",
        "telegram-1001-1-voice.ogg",
    ]


async def test_a_taken_name_is_never_overwritten(workspace: Path) -> None:
    inbox = workspace / "inbox"
    inbox.mkdir()
    (inbox / "telegram-1001-1-photo.jpg").write_bytes(b"the model's file")
    (inbox / "telegram-1001-1-photo-2.jpg").symlink_to(workspace.parent / "outside" / "secret")
    async with saving(workspace) as setup:
        message = setup.fake.post_photo(ALICE, [(10, 10, JPEG)])
        [attachment] = await setup.saver(await setup.event_for(message))
    assert attachment.path == "inbox/telegram-1001-1-photo-3.jpg"
    assert (inbox / "telegram-1001-1-photo-3.jpg").read_bytes() == JPEG
    assert (inbox / "telegram-1001-1-photo.jpg").read_bytes() == b"the model's file"
    assert (workspace.parent / "outside" / "secret").read_bytes() == SECRET


def test_a_flooded_inbox_is_refused_after_the_numbered_names(workspace: Path) -> None:
    inbox = workspace / "inbox"
    inbox.mkdir()
    ref = media(AttachmentKind.PHOTO)
    for number in range(1, 101):
        (inbox / inbox_name("7", 1, ref, number)).write_bytes(b"taken")
    with pytest.raises(WorkspacePathError) as caught:
        store_inbound(workspace, chat_id="7", message_id=1, media=ref, data=JPEG)
    assert caught.value.refusal is Refusal.EXISTS
    assert str(caught.value) == (
        "workspace path 'inbox/telegram-7-1-photo.jpg': already exists, as do 99 numbered names"
    )
    assert len(os.listdir(inbox)) == 100


async def test_a_file_over_the_cap_is_refused_before_any_download(workspace: Path) -> None:
    async with saving(workspace, max_bytes=1000) as setup:
        message = setup.fake.post_document(ALICE, b"x" * 5000, file_name="big.txt")
        assert await setup.saver(await setup.event_for(message)) == ()
        assert setup.fake.calls_to("getFile") == []
        [warning] = setup.warnings()
    assert warning.message == "telegram file not saved"
    assert dict(warning.fields)["reason"] == (
        "Telegram getFile: the file is 5000 bytes, more than 1000"
    )
    assert not (workspace / "inbox").exists()


async def test_a_file_without_a_declared_size_is_cut_at_the_cap(workspace: Path) -> None:
    async with saving(workspace, max_bytes=1000) as setup:
        message = setup.fake.post_document(ALICE, b"x" * 5000, file_name="big.txt")
        del message["document"]["file_size"]
        assert await setup.saver(await setup.event_for(message)) == ()
        [warning] = setup.warnings()
    assert dict(warning.fields)["reason"] == (
        "Telegram download: the file is larger than 1000 bytes"
    )
    assert not (workspace / "inbox").exists()


async def test_a_symlinked_inbox_is_refused(workspace: Path) -> None:
    (workspace / "inbox").symlink_to(workspace.parent / "outside")
    async with saving(workspace) as setup:
        message = setup.fake.post_photo(ALICE, [(10, 10, JPEG)])
        assert await setup.saver(await setup.event_for(message)) == ()
        [warning] = setup.warnings()
    assert (
        dict(warning.fields)["reason"]
        == "workspace path 'inbox/telegram-1001-1-photo.jpg': 'inbox': is a symlink"
    )
    assert os.listdir(workspace.parent / "outside") == ["secret"]


async def test_the_bot_api_file_limit_is_a_refusal_and_trouble_propagates(workspace: Path) -> None:
    async with saving(workspace) as setup:
        huge = setup.fake.add_file(b"\0" * (20 * 1024 * 1024 + 1))
        message = setup.fake.post_document(ALICE, b"small", file_name="a.txt")
        message["document"]["file_id"] = huge.file_id
        del message["document"]["file_size"]
        event = await setup.event_for(message)
        assert await setup.saver(event) == ()
        [warning] = setup.warnings()
        setup.fake.fail_next("getFile", Fault.server_error())
        with pytest.raises(ServerError):
            await setup.saver(event)
    assert dict(warning.fields)["reason"] == "Telegram getFile: 400 Bad Request: file is too big"


# ---- outbound -----------------------------------------------------------------------------


def test_pictures_go_as_photos_and_everything_else_as_documents(workspace: Path) -> None:
    (workspace / "out").mkdir()
    (workspace / "out" / "chart.PNG").write_bytes(JPEG)
    (workspace / "out" / "report.pdf").write_bytes(b"%PDF")
    (workspace / "big.jpg").write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    limit = 50 * 1024 * 1024
    assert read_attachment(workspace, "out/chart.PNG", limit) == OutboundFile(
        "chart.PNG", JPEG, "sendPhoto"
    )
    assert read_attachment(workspace, "out/report.pdf", limit).method == "sendDocument"
    assert read_attachment(workspace, "big.jpg", limit).method == "sendDocument"


@pytest.mark.parametrize(
    ("relpath", "refusal"),
    [
        (".env", Refusal.DOTENV),
        ("config/prod.env", Refusal.DOTENV),
        ("link.png", Refusal.SYMLINK),
        ("linked/secret", Refusal.SYMLINK),
        ("directory", Refusal.NOT_REGULAR),
        ("fifo", Refusal.NOT_REGULAR),
        ("../outside/secret", Refusal.INVALID),
        ("/etc/passwd", Refusal.INVALID),
        ("large.bin", Refusal.TOO_LARGE),
        ("missing.png", Refusal.MISSING),
    ],
)
def test_outbound_attachments_are_refused(workspace: Path, relpath: str, refusal: Refusal) -> None:
    (workspace / ".env").write_bytes(SECRET)
    (workspace / "config").mkdir()
    (workspace / "config" / "prod.env").write_bytes(SECRET)
    (workspace / "link.png").symlink_to(workspace.parent / "outside" / "secret")
    (workspace / "linked").symlink_to(workspace.parent / "outside")
    (workspace / "directory").mkdir()
    os.mkfifo(workspace / "fifo")
    (workspace / "large.bin").write_bytes(b"\0" * 1001)
    with pytest.raises(WorkspacePathError) as caught:
        read_attachment(workspace, relpath, 1000)
    assert caught.value.refusal is refusal
    assert SECRET.decode() not in str(caught.value)


async def test_an_outbound_attachment_reaches_the_chat(workspace: Path) -> None:
    (workspace / "chart.png").write_bytes(JPEG)
    outbound = read_attachment(workspace, "chart.png", 1000)
    async with saving(workspace) as setup:
        setup.fake.post_text(ALICE, "send it")
        send = setup.api.send_photo if outbound.method == "sendPhoto" else setup.api.send_document
        await send(ALICE.id, outbound.filename, outbound.data, caption="here")
        [sent] = setup.fake.messages_in(ALICE.id)
    assert sent.method == "sendPhoto"
    assert sent.upload is not None and sent.upload.content == JPEG
