"""Voice notes to text: the Transcriber against the loopback `/audio/transcriptions` fake."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio

from autobot.channels.transcribe import (
    CUT_MARKER,
    MAX_ANSWER_BYTES,
    MAX_TRANSCRIPT_CHARS,
    Transcriber,
    TranscriptionError,
    transcriber_for,
)
from autobot.config.schema import TranscriptionConfig
from autobot.config.secret import Secret
from autobot.testing.fake_transcription import (
    FakeTranscription,
    ScriptedTranscript,
    serve_fake_transcription,
)
from autobot.testing.http_server import HttpRequest, HttpResponse, serve_http

KEY = "sk-proj-whisper-SECRET-do-not-leak"
VOICE = b"OggS\x00\x02 a voice note"


@asynccontextmanager
async def endpoint(
    *steps: ScriptedTranscript, api_key: str | None = KEY, **settings: Any
) -> AsyncIterator[tuple[FakeTranscription, Transcriber]]:
    async with (
        serve_fake_transcription(steps, api_key=api_key) as fake,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        config = TranscriptionConfig(
            api_base=fake.api_base,
            api_key=None if api_key is None else Secret(api_key),
            **settings,
        )
        transcriber = transcriber_for(config, client)
        assert transcriber is not None
        yield fake, transcriber


async def transcribe(transcriber: Transcriber, audio: bytes = VOICE) -> str:
    return await transcriber(audio, filename="telegram-42-7-voice.ogg", mime_type="audio/ogg")


async def test_a_voice_note_is_uploaded_and_its_text_returned() -> None:
    async with endpoint(ScriptedTranscript(text="  Buy milk, and call mum.\n")) as (fake, t):
        assert await transcribe(t) == "Buy milk, and call mum."
    [request] = fake.requests
    assert request.model == "whisper-1"
    assert request.response_format == "json"
    assert request.file_name == "telegram-42-7-voice.ogg"
    assert request.content_type == "audio/ogg"
    assert request.audio == VOICE
    assert request.bearer == KEY


async def test_a_keyless_endpoint_gets_no_authorization() -> None:
    async with endpoint(ScriptedTranscript(text="hi"), api_key=None, model="large-v3") as (fake, t):
        assert await transcribe(t) == "hi"
    assert fake.requests[0].bearer is None
    assert fake.requests[0].model == "large-v3"


async def test_a_rejected_key_is_a_clear_error_without_the_key() -> None:
    async with (
        serve_fake_transcription(api_key="the-right-key") as fake,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        config = TranscriptionConfig(api_base=fake.api_base, api_key=Secret(KEY))
        transcriber = transcriber_for(config, client)
        assert transcriber is not None
        with pytest.raises(TranscriptionError) as caught:
            await transcribe(transcriber)
    assert str(caught.value) == "HTTP 401: Incorrect API key provided."
    assert fake.requests == []


async def test_the_key_is_scrubbed_from_what_the_server_says() -> None:
    step = ScriptedTranscript(status=500, message=f"upstream refused key {KEY}\nretry later")
    async with endpoint(step) as (_, t):
        with pytest.raises(TranscriptionError) as caught:
            await transcribe(t)
    assert str(caught.value) == "HTTP 500: upstream refused key [REDACTED] retry later"


async def test_a_slow_endpoint_is_cut_at_the_timeout(autojump_clock: trio.abc.Clock) -> None:
    step = ScriptedTranscript(text="too late", latency=500.0)
    async with endpoint(step, timeout_seconds=20.0) as (_, t):
        start = trio.current_time()
        with pytest.raises(TranscriptionError, match=r"^no answer within 20 s$"):
            await transcribe(t)
        assert trio.current_time() - start == 20.0


async def test_audio_over_the_cap_is_never_sent() -> None:
    async with endpoint(max_bytes=10) as (fake, t):
        with pytest.raises(TranscriptionError) as caught:
            await transcribe(t, b"x" * 11)
        with pytest.raises(TranscriptionError, match="the voice note is 0 bytes"):
            await transcribe(t, b"")
    assert str(caught.value) == "the voice note is 11 bytes; at most 10 are sent"
    assert fake.requests == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one\ttwo\nthree\x1b[31m\x00", "one\ttwo\nthree[31m"),
        ("x" * (MAX_TRANSCRIPT_CHARS + 5), "x" * MAX_TRANSCRIPT_CHARS + CUT_MARKER),
    ],
)
async def test_the_transcript_is_cleaned_and_bounded(text: str, expected: str) -> None:
    async with endpoint(ScriptedTranscript(text=text)) as (_, t):
        assert await transcribe(t) == expected


async def test_silence_is_not_a_transcript() -> None:
    async with endpoint(ScriptedTranscript(text=" \n ")) as (_, t):
        with pytest.raises(TranscriptionError, match=r"^no speech was recognised$"):
            await transcribe(t)


@asynccontextmanager
async def answering(response: HttpResponse) -> AsyncIterator[Transcriber]:
    async def handler(request: HttpRequest) -> HttpResponse:
        return response

    async with serve_http(handler) as server, httpx.AsyncClient(trust_env=False) as client:
        transcriber = transcriber_for(TranscriptionConfig(api_base=server.base_url), client)
        assert transcriber is not None
        yield transcriber


async def chunks(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * 65536


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (HttpResponse(status=200, body=b"<html>"), "the answer is not JSON"),
        (HttpResponse.json(200, {"transcript": "x"}), 'the answer has no "text"'),
        (HttpResponse.json(200, ["x"]), 'the answer has no "text"'),
        (
            HttpResponse(status=307, headers={"location": "https://elsewhere.example/"}),
            "HTTP 307: no detail",
        ),
        (HttpResponse(status=502, body=b"Bad Gateway"), "HTTP 502: Bad Gateway"),
        (
            HttpResponse(status=200, headers={"content-encoding": "gzip"}, body=b"\x1f\x8b"),
            "the answer is compressed; it was not read",
        ),
        (
            HttpResponse(status=200, body=b"x" * (MAX_ANSWER_BYTES + 1)),
            f"the answer is larger than {MAX_ANSWER_BYTES} bytes",
        ),
        (
            HttpResponse(status=200, stream=chunks(MAX_ANSWER_BYTES // 65536 + 2)),
            f"the answer is larger than {MAX_ANSWER_BYTES} bytes",
        ),
        (HttpResponse.dropped(), "RemoteProtocolError: Server disconnected without sending a response."),
    ],
)  # fmt: skip
async def test_odd_answers_are_clear_errors(response: HttpResponse, problem: str) -> None:
    async with answering(response) as transcriber:
        with pytest.raises(TranscriptionError) as caught:
            await transcribe(transcriber)
    assert str(caught.value) == problem


async def test_no_endpoint_means_no_transcriber() -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        assert transcriber_for(TranscriptionConfig(), client) is None


@pytest.mark.parametrize(
    ("api_base", "problem"),
    [
        ("https://user:pw@whisper.example/v1", "must not carry credentials"),
        ("https://whisper.example/v1?key=x", "must not carry credentials, a query"),
        ("ftp://whisper.example", "must be an http(s) URL"),
    ],
)
async def test_an_unusable_endpoint_is_refused(api_base: str, problem: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        with pytest.raises(ValueError, match=re.escape(problem)):
            transcriber_for(TranscriptionConfig(api_base=api_base), client)


async def test_the_url_is_built_from_api_base() -> None:
    async with endpoint(ScriptedTranscript(text="x")) as (fake, t):
        assert t.url == fake.api_base + "/audio/transcriptions"
        assert KEY not in repr(t)
    config = TranscriptionConfig(api_base="https://api.openai.com/v1/")
    async with httpx.AsyncClient(trust_env=False) as client:
        transcriber = transcriber_for(config, client)
    assert transcriber is not None
    assert transcriber.url == "https://api.openai.com/v1/audio/transcriptions"


@pytest.mark.parametrize("name", ["", "../voice.ogg", "a\nb.ogg", 'x".ogg'])
async def test_a_file_name_with_a_path_is_a_caller_bug(name: str) -> None:
    async with endpoint() as (fake, t):
        with pytest.raises(ValueError, match="an audio file name is one plain name"):
            await t(VOICE, filename=name, mime_type="audio/ogg")
    assert fake.requests == []


# ---- the fake refuses what the real endpoint refuses ----------------------------------------


@pytest.mark.parametrize(
    ("files", "data", "status", "message"),
    [
        ({"file": ("v.ogg", VOICE)}, {}, 400, "you must provide a model parameter"),
        ({}, {"model": "whisper-1"}, 400, "1 validation error: file: field required"),
        (
            {"file": ("v.exe", VOICE)},
            {"model": "whisper-1"},
            400,
            "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', "
            "'mpga', 'oga', 'ogg', 'wav', 'webm']",
        ),
        (
            {"file": ("v.ogg", b"\0" * (25 * 1024 * 1024 + 1))},
            {"model": "whisper-1"},
            413,
            "Maximum content size limit (26214400) exceeded",
        ),
    ],
)
async def test_the_fake_refuses_a_malformed_upload(
    files: dict[str, Any], data: dict[str, str], status: int, message: str
) -> None:
    async with (
        serve_fake_transcription() as fake,
        httpx.AsyncClient(trust_env=False) as client,
    ):
        if not files:
            answer = await client.post(fake.url, data=data, files={"other": ("x.txt", b"x")})
        else:
            answer = await client.post(fake.url, data=data, files=files)
    assert answer.status_code == status
    assert answer.json()["error"]["message"] == message
    assert fake.refused == [message]
    assert fake.requests == []
