"""A loopback fake of an OpenAI-compatible `POST <prefix>/audio/transcriptions`.

    async with serve_fake_transcription([ScriptedTranscript(text="buy milk")]) as fake:
        transcriber = Transcriber(client=..., url=fake.url, model="whisper-1")
        ...
        assert fake.requests[0].audio == voice_bytes

It reads the multipart/form-data body the way the real endpoint does and
refuses what it refuses: no `file` part or no `model` field (400), a file
whose extension is not an audio format it knows (400), more than 25 MB
(413), a wrong or missing key when the fake has one (401). Each accepted
request is recorded as a `TranscriptionRequest` and answered from the script
(in order; running out is a test bug reported when the block exits) or from
`handler(request)`: `{"text": ...}`, or an error with the API's
`{"error": {...}}` body, after an optional `latency` in trio time (so
autojump tests can time a slow endpoint out). Any other route is a 404.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import PurePosixPath

import attrs
import trio

from autobot.testing.http_server import HttpRequest, HttpResponse, LoopbackServer, serve_http
from autobot.testing.llm_script import ScriptExhausted
from autobot.testing.telegram.request import ApiError, read_arguments

ROUTE_SUFFIX = "/audio/transcriptions"
MAX_FILE_BYTES = 25 * 1024 * 1024
AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")


@attrs.frozen(kw_only=True)
class TranscriptionRequest:
    """One accepted upload: the form fields, the file, and the key sent (or None)."""

    model: str
    response_format: str | None
    file_name: str
    content_type: str
    audio: bytes
    bearer: str | None
    at: float


@attrs.frozen(kw_only=True)
class ScriptedTranscript:
    """An answer: `text` with status 200, or an error `status` with `message`."""

    text: str = ""
    status: int = 200
    message: str = "scripted error"
    latency: float = 0.0


Handler = Callable[[TranscriptionRequest], ScriptedTranscript]


@attrs.define(kw_only=True)
class FakeTranscription:
    """A running fake: where it listens and every request it accepted."""

    server: LoopbackServer
    api_key: str | None
    requests: list[TranscriptionRequest] = attrs.field(factory=list)
    refused: list[str] = attrs.field(factory=list)  # the messages of 4xx answers

    @property
    def api_base(self) -> str:
        """What `transcription.api_base` is set to (`{base_url}/v1`)."""
        return f"{self.server.base_url}/v1"

    @property
    def url(self) -> str:
        return self.api_base + ROUTE_SUFFIX


@asynccontextmanager
async def serve_fake_transcription(
    script: Iterable[ScriptedTranscript] = (),
    *,
    handler: Handler | None = None,
    api_key: str | None = None,
) -> AsyncIterator[FakeTranscription]:
    """Run the fake on 127.0.0.1 for the block. With `api_key`, requests must
    carry it as a Bearer token. Raises `ValueError` when both a script and a
    handler are given, `ScriptExhausted` at exit if the script ran out."""
    queue = collections.deque(script)
    if queue and handler is not None:
        raise ValueError("give the fake either a script or a handler, not both")
    fake: FakeTranscription | None = None

    def next_step(request: TranscriptionRequest) -> ScriptedTranscript:
        if handler is not None:
            return handler(request)
        if not queue:  # answered 500 and re-raised at block exit by `serve_http`
            raise ScriptExhausted("the fake transcription script has no step left")
        return queue.popleft()

    async def respond(http: HttpRequest) -> HttpResponse:
        assert fake is not None
        if http.method != "POST" or not http.path.split("?")[0].endswith(ROUTE_SUFFIX):
            return _error(404, "Invalid URL", "invalid_request_error")
        try:
            request = _accepted(fake, http)
        except _Refused as refused:
            fake.refused.append(refused.message)
            return _error(refused.status, refused.message, refused.kind)
        fake.requests.append(request)
        step = next_step(request)
        await trio.sleep(step.latency)
        if step.status != 200:
            return _error(step.status, step.message, "server_error")
        return HttpResponse.json(200, {"text": step.text})

    async with serve_http(respond) as server:
        fake = FakeTranscription(server=server, api_key=api_key)
        yield fake


class _Refused(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _accepted(fake: FakeTranscription, http: HttpRequest) -> TranscriptionRequest:
    """The request as the real endpoint reads it; raises `_Refused` otherwise."""
    authorization = http.headers.get("authorization")
    bearer = authorization.removeprefix("Bearer ") if authorization else None
    if fake.api_key is not None and bearer != fake.api_key:
        raise _Refused(401, "Incorrect API key provided.", "invalid_api_key")
    if not http.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _Refused(400, "Could not parse multipart form")
    try:
        arguments = read_arguments(http)
    except ApiError:
        raise _Refused(400, "Could not parse multipart form") from None
    upload = arguments.files.get("file")
    if upload is None:
        raise _Refused(400, "1 validation error: file: field required")
    model = arguments.values.get("model")
    if not isinstance(model, str) or not model:
        raise _Refused(400, "you must provide a model parameter")
    if len(upload.content) > MAX_FILE_BYTES:
        raise _Refused(413, f"Maximum content size limit ({MAX_FILE_BYTES}) exceeded")
    extension = PurePosixPath(upload.file_name).suffix.lower().removeprefix(".")
    if extension not in AUDIO_EXTENSIONS:
        raise _Refused(400, f"Invalid file format. Supported formats: {list(AUDIO_EXTENSIONS)}")
    response_format = arguments.values.get("response_format")
    return TranscriptionRequest(
        model=model,
        response_format=response_format if isinstance(response_format, str) else None,
        file_name=upload.file_name,
        content_type=upload.content_type,
        audio=upload.content,
        bearer=bearer,
        at=trio.current_time(),
    )


def _error(status: int, message: str, kind: str) -> HttpResponse:
    return HttpResponse.json(status, {"error": {"message": message, "type": kind, "code": None}})
