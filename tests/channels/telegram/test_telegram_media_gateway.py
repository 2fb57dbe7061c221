"""Media through the whole gateway: a photo reaches the model as an image (and
never the session journal), a voice note is transcribed by the loopback
transcription endpoint, and a file the model attaches with the `message`
tool reaches the chat. The real tree runs against the Bot API, model and
transcription fakes."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.app import build_gateway, chat_channels
from autobot.config import LoadedConfig, load_config
from autobot.llm.types import ImagePart
from autobot.testing.fake_anthropic import sent_images, serve_fake_anthropic
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.fake_transcription import (
    FakeTranscription,
    ScriptedTranscript,
    serve_fake_transcription,
)
from autobot.testing.llm_script import FakeLLM, ScriptedReply, ScriptedToolCall, Step
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_bot import last_user_text, make_telegram_bot

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 a photo of a cat"
PNG = b"\x89PNG\r\n\x1a\n a chart the model drew"
VOICE = b"OggS\x00\x02 opus voice note"


def model(body: Mapping[str, Any]) -> Step:
    """Echoes the user, except: asked for the chart, it attaches it with the
    `message` tool, then says so."""
    last = body["messages"][-1]
    if any(block.get("type") == "tool_result" for block in last["content"]):
        return ScriptedReply(text="there it is")
    text = last_user_text(body)
    if "chart" in text:
        arguments = {"content": "the chart", "attachments": ["out/chart.png"]}
        return ScriptedReply(tool_calls=(ScriptedToolCall(name="message", arguments=arguments),))
    return ScriptedReply(text="echo: " + text)


@attrs.frozen
class Running:
    telegram: FakeTelegram
    model: FakeLLM
    transcription: FakeTranscription
    loaded: LoadedConfig

    async def reply(self) -> str:
        with trio.fail_after(STEP_SECONDS):
            return (await self.telegram.next_message(ALICE.id)).text


@asynccontextmanager
async def running_bot(tmp_path: Path, *transcripts: ScriptedTranscript) -> AsyncIterator[Running]:
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(handler=model) as llm,
        serve_fake_transcription(transcripts, api_key="sk-whisper-test") as transcription,
    ):
        config_path = make_telegram_bot(
            tmp_path,
            telegram_url=telegram.base_url,
            model_url=llm.base_url,
            allow_from=["@alice"],
            telegram={
                "transcription": {
                    "api_base": transcription.api_base,
                    "api_key": "${WHISPER_API_KEY}",
                }
            },
        )
        loaded = load_config(config_path, {"WHISPER_API_KEY": "sk-whisper-test"})
        gateway_config = attrs.evolve(loaded.config.gateway, port=0)
        loaded = attrs.evolve(loaded, config=attrs.evolve(loaded.config, gateway=gateway_config))
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=chat_channels(loaded))
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(telegram, llm, transcription, loaded)
            gateway.stop()


async def test_a_photo_is_seen_by_the_model_and_never_journaled(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        bot.telegram.post_photo(
            ALICE, [(90, 60, b"\xff\xd8\xff tiny"), (800, 600, JPEG)], caption="what is this?"
        )
        reply = await bot.reply()
    assert reply == (
        "echo: [photo received, saved in the workspace at inbox/telegram-1001-1-photo.jpg]\n"
        "what is this?"
    )
    [body] = bot.model.bodies()
    assert sent_images(body) == [ImagePart(media_type="image/jpeg", data=JPEG)]
    assert (bot.loaded.workspace / "inbox" / "telegram-1001-1-photo.jpg").read_bytes() == JPEG
    journals = "".join(p.read_text() for p in bot.loaded.sessions_dir.glob("*.jsonl"))
    assert "inbox/telegram-1001-1-photo.jpg" in journals
    assert base64.b64encode(JPEG).decode() not in journals
    assert "JFIF" not in journals


async def test_a_voice_note_is_transcribed_end_to_end(tmp_path: Path) -> None:
    async with running_bot(tmp_path, ScriptedTranscript(text="Remind me to call mum.")) as bot:
        bot.telegram.post_voice(ALICE, VOICE, duration=2)
        reply = await bot.reply()
    assert reply == "echo: [voice note, transcribed]: Remind me to call mum."
    [request] = bot.transcription.requests
    assert (request.audio, request.bearer, request.model) == (VOICE, "sk-whisper-test", "whisper-1")
    assert (bot.loaded.workspace / "inbox" / "telegram-1001-1-voice.ogg").read_bytes() == VOICE


async def test_a_voice_note_the_endpoint_fails_on_still_arrives(tmp_path: Path) -> None:
    failing = ScriptedTranscript(status=503, message="overloaded")
    async with running_bot(tmp_path, failing) as bot:
        bot.telegram.post_voice(ALICE, VOICE, duration=2)
        reply = await bot.reply()
    assert reply == (
        "echo: [voice note received, saved in the workspace at inbox/telegram-1001-1-voice.ogg; "
        "it could not be transcribed]"
    )
    log = (bot.loaded.logs_dir / "autobot.log").read_text()
    assert "telegram voice note not transcribed" in log and "HTTP 503: overloaded" in log


async def test_the_model_attaches_a_workspace_file(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        (bot.loaded.workspace / "out").mkdir()
        (bot.loaded.workspace / "out" / "chart.png").write_bytes(PNG)
        bot.telegram.post_text(ALICE, "send me the chart please")
        texts = [await bot.reply(), await bot.reply(), await bot.reply()]
        photos = [m for m in bot.telegram.messages_in(ALICE.id) if m.method == "sendPhoto"]
    assert texts == ["the chart", "", "there it is"]
    [photo] = photos
    assert photo.upload is not None
    assert (photo.upload.file_name, photo.upload.content) == ("chart.png", PNG)
