"""Inbound Telegram media land in `workspace/inbox/` through the real channel.

Users send photos and documents through the Bot API fake; the channel
fetches them (getFile, then the file URL) and stores them under generated
names before the message reaches the router (`autobot.testing.telegram_channel`).
Covered: the largest photo size, hostile document names, the size cap
(refused before any download), a name already taken, and an inbox the model
replaced with a symlink.
"""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from autobot.channels.base import AttachmentKind, InboundMessage
from autobot.logs.records import Level
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_channel import TelegramRun, channel_config, run_telegram_channel

STEP_SECONDS = 30.0  # generous bound for one exchange in real time
CAP = 4096  # max_file_bytes in these tests
ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[TelegramRun]:
    async with serve_fake_telegram() as fake:
        config = channel_config(fake, allow_from=("1001",), max_file_bytes=CAP)
        async with run_telegram_channel(config, fake, bot_dir=tmp_path / "bot") as run:
            yield run


async def routed(run: TelegramRun) -> InboundMessage:
    with trio.fail_after(STEP_SECONDS):
        return await run.routed.receive()


def private(path: Path) -> bool:
    return stat.S_IMODE(path.lstat().st_mode) == 0o600


async def test_the_largest_photo_size_is_saved_and_attached(tmp_path: Path) -> None:
    large = b"\xff\xd8large" * 100
    async with running(tmp_path) as run:
        sizes = [(90, 90, b"\xff\xd8small"), (1280, 960, large), (320, 240, b"\xff\xd8medium")]
        posted = run.telegram.post_photo(ALICE, sizes, caption="look at this")
        message = await routed(run)
        [attachment] = message.attachments
        expected = f"inbox/telegram-1001-{posted['message_id']}-photo.jpg"
        assert (attachment.kind, attachment.path, attachment.size) == (
            AttachmentKind.PHOTO,
            expected,
            len(large),
        )
        assert attachment.mime_type == "image/jpeg"
        assert message.content == "look at this"
        saved = run.workspace / expected
        assert saved.read_bytes() == large and private(saved)
        assert stat.S_IMODE((run.workspace / "inbox").stat().st_mode) == 0o700
        # only the largest size was fetched
        [download] = run.telegram.downloads
        assert download.served and download.file_path.startswith("photos/")
        assert len(run.telegram.calls_to("getFile")) == 1


async def test_a_document_gets_a_safe_generated_name(tmp_path: Path) -> None:
    async with running(tmp_path) as run:
        hostile = [
            ("../../.env", "text/plain", "txt"),
            ("report.pdf\n.sh", "application/pdf", "pdf"),
            ("notes.md", "application/x-evil", "md"),
            ("payload.exe", "application/octet-stream", "bin"),
        ]
        for index, (name, mime, _) in enumerate(hostile):
            run.telegram.post_document(
                ALICE, f"content {index}".encode(), file_name=name, mime_type=mime
            )
        messages = [await routed(run) for _ in hostile]
        for index, (message, (_, _, extension)) in enumerate(zip(messages, hostile, strict=True)):
            [attachment] = message.attachments
            assert attachment.path == (
                f"inbox/telegram-1001-{message.message_id}-document.{extension}"
            )
            assert (run.workspace / attachment.path).read_bytes() == f"content {index}".encode()
        inbox = sorted(os.listdir(run.workspace / "inbox"))
        assert len(inbox) == len(hostile)
        assert not (run.bot_dir / ".env").exists() and not (tmp_path / ".env").exists()


async def test_a_file_over_the_cap_is_not_fetched(tmp_path: Path) -> None:
    async with running(tmp_path) as run:
        run.telegram.post_document(ALICE, b"x" * (CAP + 1), file_name="big.txt", caption="too big?")
        message = await routed(run)
        assert (message.content, message.attachments) == ("too big?", ())
        assert run.telegram.downloads == [] and run.telegram.calls_to("getFile") == []
        assert not (run.workspace / "inbox").exists()
        [warning] = run.logged(Level.WARN, "file not saved")
        fields = dict(warning.fields)
        assert fields["reason"] == f"Telegram getFile: the file is {CAP + 1} bytes, more than {CAP}"
        # one at the cap is fine
        run.telegram.post_document(ALICE, b"y" * CAP, file_name="fits.txt")
        [attachment] = (await routed(run)).attachments
        assert (run.workspace / attachment.path).stat().st_size == CAP


async def test_a_taken_name_is_never_overwritten(tmp_path: Path) -> None:
    async with running(tmp_path) as run:
        inbox = run.workspace / "inbox"
        inbox.mkdir(mode=0o700)
        # the model guessed the next name and put something there
        (inbox / "telegram-1001-1-document.txt").write_bytes(b"the model's file")
        run.telegram.post_document(ALICE, b"the user's file", file_name="a.txt")
        [attachment] = (await routed(run)).attachments
        assert attachment.path == "inbox/telegram-1001-1-document-2.txt"
        assert (inbox / "telegram-1001-1-document.txt").read_bytes() == b"the model's file"
        assert (inbox / "telegram-1001-1-document-2.txt").read_bytes() == b"the user's file"


async def test_an_inbox_replaced_by_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    async with running(tmp_path) as run:
        (run.workspace / "inbox").symlink_to(outside)  # what the model can do through exec
        run.telegram.post_document(ALICE, b"secret upload", file_name="a.txt", caption="here")
        message = await routed(run)
        assert (message.content, message.attachments) == ("here", ())
        assert list(outside.iterdir()) == []
        [warning] = run.logged(Level.WARN, "file not saved")
        assert dict(warning.fields)["kind"] == "document"
