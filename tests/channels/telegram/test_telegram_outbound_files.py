"""Files a reply attaches, sent to the loopback Bot API: photos and documents by
extension, files that changed since the tool checked them refused (also in a
real race with a thread swapping in a symlink), the chat told what did not come."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from autobot.channels.base import Attachment, AttachmentKind, OutboundMessage
from autobot.channels.telegram.api import TelegramApi
from autobot.channels.telegram.outbound_files import NotSent, send_attachments
from autobot.logs.records import Level
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.logs import capture_logger, drain
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import TelegramUser

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
PNG = b"\x89PNG\r\n\x1a\n chart"
PDF = b"%PDF-1.7 report"
SECRET = b"ANTHROPIC_API_KEY=sk-ant-outside-the-workspace\n"
RACE_SENDS = 100
RACE_SENDS_MAX = 5000


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "out").mkdir(parents=True)
    (root / "out" / "chart.png").write_bytes(PNG)
    (root / "report.pdf").write_bytes(PDF)
    (tmp_path / "secret.pdf").write_bytes(SECRET)
    return root


def attached(*paths: str, thread_id: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        channel="telegram",
        chat_id=str(ALICE.id),
        content="files",
        thread_id=thread_id,
        attachments=tuple(Attachment(kind=AttachmentKind.DOCUMENT, path=p) for p in paths),
    )


@attrs.frozen
class Setup:
    fake: FakeTelegram
    api: TelegramApi
    logs: Any

    async def send(self, workspace: Path, message: OutboundMessage) -> tuple[NotSent, ...]:
        logger = self.logs[0]
        return await send_attachments(self.api, message, workspace, logger=logger)

    def uploads(self) -> list[tuple[str, str, bytes]]:
        return [
            (m.method, m.upload.file_name, m.upload.content)
            for m in self.fake.messages_in(ALICE.id)
            if m.upload is not None
        ]

    def notes(self) -> list[str]:
        return [m.text for m in self.fake.messages_in(ALICE.id) if m.method == "sendMessage"]

    def warnings(self) -> list[dict[str, object]]:
        return [dict(r.fields) for r in drain(self.logs[1]) if r.level is Level.WARN]


@asynccontextmanager
async def telegram() -> AsyncIterator[Setup]:
    async with serve_fake_telegram() as fake, httpx.AsyncClient(trust_env=False) as client:
        fake.post_text(ALICE, "send me the files")  # the chat exists
        api = TelegramApi(client=client, api_base=fake.base_url, token=fake.token)
        yield Setup(fake, api, capture_logger())


async def test_pictures_go_as_photos_and_the_rest_as_documents(workspace: Path) -> None:
    async with telegram() as setup:
        assert await setup.send(workspace, attached("out/chart.png", "report.pdf")) == ()
        assert setup.uploads() == [
            ("sendPhoto", "chart.png", PNG),
            ("sendDocument", "report.pdf", PDF),
        ]
        assert setup.notes() == []
        assert setup.warnings() == []


async def test_a_file_that_changed_since_the_check_is_refused_and_named(workspace: Path) -> None:
    (workspace / "report.pdf").unlink()
    (workspace / "report.pdf").symlink_to(workspace.parent / "secret.pdf")
    (workspace / "out" / "chart.png").unlink()
    async with telegram() as setup:
        not_sent = await setup.send(workspace, attached("out/chart.png", "report.pdf"))
        assert not_sent == (
            NotSent(path="out/chart.png", reason="the file is gone"),
            NotSent(path="report.pdf", reason="it, or a directory on its way, is a symlink"),
        )
        assert setup.uploads() == []
        assert setup.notes() == [
            "(I could not send the file out/chart.png: the file is gone.)",
            "(I could not send the file report.pdf: it, or a directory on its way, is a symlink.)",
        ]
        warnings = setup.warnings()
    assert warnings == [
        {"chat_id": str(ALICE.id), "path": "out/chart.png", "reason": "the file is gone"},
        {
            "chat_id": str(ALICE.id),
            "path": "report.pdf",
            "reason": "it, or a directory on its way, is a symlink",
        },
    ]


@pytest.mark.parametrize(
    ("make", "path", "reason"),
    [
        (lambda w: (w / "empty.txt").write_bytes(b""), "empty.txt", "it is empty"),
        (lambda w: os.truncate(w / "report.pdf", 50 * 1024 * 1024 + 1), "report.pdf", "it is larger than 50 MB"),
        (lambda w: os.mkfifo(w / "pipe"), "pipe", "it is not a regular file"),
        (lambda w: (w / "a").mkdir(), "a", "it is not a regular file"),
        (lambda w: (w / 'say "hi".pdf').write_bytes(PDF), 'say "hi".pdf', "it cannot be uploaded: upload file name"),
        (lambda w: None, ".env", "it is a dotenv file"),
    ],
)  # fmt: skip
async def test_files_the_channel_cannot_send(
    workspace: Path, make: Any, path: str, reason: str
) -> None:
    make(workspace)
    async with telegram() as setup:
        [not_sent] = await setup.send(workspace, attached(path))
        assert not_sent.path == path
        assert not_sent.reason.startswith(reason)
        assert setup.uploads() == []


async def test_a_rate_limit_is_waited_out(workspace: Path, autojump_clock: trio.abc.Clock) -> None:
    async with telegram() as setup:
        setup.fake.fail_next("sendDocument", Fault.too_many_requests(retry_after=7))
        start = trio.current_time()
        assert await setup.send(workspace, attached("report.pdf")) == ()
        assert trio.current_time() - start == 7.0
        assert setup.uploads() == [("sendDocument", "report.pdf", PDF)]


async def test_a_long_rate_limit_or_a_refusal_skips_the_file(workspace: Path) -> None:
    async with telegram() as setup:
        setup.fake.fail_next("sendDocument", Fault.too_many_requests(retry_after=3600))
        setup.fake.fail_next("sendPhoto", Fault.error(400, "Bad Request: IMAGE_PROCESS_FAILED"))
        not_sent = await setup.send(workspace, attached("report.pdf", "out/chart.png"))
        assert [n.reason for n in not_sent] == [
            "Telegram refused it: Telegram sendDocument: 429 Too Many Requests: retry after 3600",
            "Telegram refused it: Telegram sendPhoto: 400 Bad Request: IMAGE_PROCESS_FAILED",
        ]
        assert setup.uploads() == []


async def test_a_blocked_bot_is_no_crash(workspace: Path) -> None:
    async with telegram() as setup:
        setup.fake.block_bot(ALICE)
        [not_sent] = await setup.send(workspace, attached("report.pdf"))
        assert not_sent.reason.startswith("Telegram refused it: Telegram sendDocument: 403")
        assert setup.fake.messages_in(ALICE.id) == []


async def test_files_keep_the_forum_topic(workspace: Path) -> None:
    async with telegram() as setup:
        await setup.send(workspace, attached("report.pdf", thread_id="not-a-number"))
        [sent] = setup.fake.messages_in(ALICE.id)
        assert sent.thread_id is None


async def test_a_file_swapped_for_a_link_in_a_race_never_leaves(workspace: Path) -> None:
    """A real thread swaps report.pdf with a symlink to a file outside the
    workspace as fast as it can while the channel sends it: every send is
    the workspace file or a refusal, never the outside file."""
    target = workspace / "report.pdf"
    (workspace / "link").symlink_to(workspace.parent / "secret.pdf")
    (workspace / "real").write_bytes(PDF)
    holding = workspace / "held"
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            for replacement in (workspace / "link", workspace / "real"):
                os.rename(target, holding)
                os.rename(replacement, target)
                os.rename(holding, replacement)

    thread = threading.Thread(target=swapper)
    async with telegram() as setup:
        thread.start()
        refused: set[str] = set()
        try:
            for attempt in range(RACE_SENDS_MAX):
                for not_sent in await setup.send(workspace, attached("report.pdf")):
                    refused.add(not_sent.reason)
                linked = any("symlink" in reason for reason in refused)
                if attempt >= RACE_SENDS and setup.uploads() and linked:
                    break
        finally:
            stop.set()
            thread.join()
        uploads = setup.uploads()
    assert uploads, "no send won the race"
    assert any("symlink" in reason for reason in refused), refused
    assert all(content == PDF for _, _, content in uploads)
