"""Voice notes from Telegram: saved into the inbox, then transcribed by the
configured endpoint (the loopback fake); a failed transcription still
delivers the voice note, untranscribed, with a WARN."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from autobot.channels.base import Attachment, AttachmentKind
from autobot.channels.telegram.api import TelegramApi
from autobot.channels.telegram.inbox import InboxSaver
from autobot.channels.telegram.updates import TelegramEvent, parse_update
from autobot.channels.transcribe import transcriber_for
from autobot.config.schema import TranscriptionConfig
from autobot.logs.records import Level, LogRecord
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.fake_transcription import (
    FakeTranscription,
    ScriptedTranscript,
    serve_fake_transcription,
)
from autobot.testing.logs import capture_logger, drain
from autobot.testing.telegram.objects import TelegramUser

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
VOICE = b"OggS\x00\x02 opus voice"


@attrs.define
class Setup:
    telegram: FakeTelegram
    transcription: FakeTranscription
    saver: InboxSaver
    logs: Any

    async def event_for(self, message: dict[str, Any]) -> TelegramEvent:
        bot = await self.saver.api.get_me()
        [update] = [u for u in self.telegram.updates.pending if u["message"] is message]
        event = parse_update(update, bot)
        assert event is not None
        return event

    def warnings(self) -> list[LogRecord]:
        return [record for record in drain(self.logs) if record.level is Level.WARN]


@asynccontextmanager
async def saving(
    workspace: Path, *steps: ScriptedTranscript, **config: Any
) -> AsyncIterator[Setup]:
    logger, records = capture_logger()
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_transcription(steps) as transcription,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        api = TelegramApi(client=client, api_base=telegram.base_url, token=telegram.token)
        settings = TranscriptionConfig(api_base=transcription.api_base, **config)
        saver = InboxSaver(
            api=api,
            workspace=workspace,
            logger=logger,
            transcribe=transcriber_for(settings, client),
        )
        yield Setup(telegram, transcription, saver, records)


async def test_a_voice_note_is_saved_and_transcribed(tmp_path: Path) -> None:
    async with saving(tmp_path, ScriptedTranscript(text="call mum at six")) as setup:
        message = setup.telegram.post_voice(ALICE, VOICE, duration=3)
        [attachment] = await setup.saver(await setup.event_for(message))
        assert setup.warnings() == []
    assert attachment == Attachment(
        kind=AttachmentKind.VOICE,
        path="inbox/telegram-1001-1-voice.ogg",
        mime_type="audio/ogg",
        size=len(VOICE),
        transcript="call mum at six",
    )
    assert (tmp_path / attachment.path).read_bytes() == VOICE
    [request] = setup.transcription.requests
    assert (request.file_name, request.audio) == ("telegram-1001-1-voice.ogg", VOICE)


async def test_a_failed_transcription_still_delivers_the_voice_note(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    slow = ScriptedTranscript(text="never heard", latency=120.0)
    async with saving(tmp_path, slow, timeout_seconds=30.0) as setup:
        message = setup.telegram.post_voice(ALICE, VOICE, duration=3)
        start = trio.current_time()
        [attachment] = await setup.saver(await setup.event_for(message))
        assert trio.current_time() - start == 30.0
        [warning] = setup.warnings()
    assert attachment.transcript is None
    assert (tmp_path / attachment.path).read_bytes() == VOICE
    assert warning.message == "telegram voice note not transcribed"
    assert dict(warning.fields) == {
        "chat_id": str(ALICE.id),
        "message_id": "1",
        "reason": "no answer within 30 s",
    }


async def test_a_voice_note_over_the_transcription_cap_is_not_sent(tmp_path: Path) -> None:
    async with saving(tmp_path, max_bytes=5) as setup:
        message = setup.telegram.post_voice(ALICE, VOICE, duration=3)
        [attachment] = await setup.saver(await setup.event_for(message))
        [warning] = setup.warnings()
    assert attachment.transcript is None
    assert dict(warning.fields)["reason"] == (
        f"the voice note is {len(VOICE)} bytes; at most 5 are sent"
    )
    assert setup.transcription.requests == []


async def test_photos_and_documents_are_never_transcribed(tmp_path: Path) -> None:
    async with saving(tmp_path) as setup:
        photo = setup.telegram.post_photo(ALICE, [(10, 10, b"\xff\xd8\xff photo")])
        document = setup.telegram.post_document(ALICE, b"OggS audio", file_name="talk.ogg")
        saved = [
            *await setup.saver(await setup.event_for(photo)),
            *await setup.saver(await setup.event_for(document)),
        ]
    assert [a.transcript for a in saved] == [None, None]
    assert setup.transcription.requests == []
