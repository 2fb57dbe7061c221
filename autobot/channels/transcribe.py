"""Voice notes to text through an OpenAI-compatible `/audio/transcriptions` endpoint.

`Transcriber` is the edge adapter a channel calls with a voice note's bytes
(the thin shell: one request, no retries; a voice note that could not be
transcribed is still delivered, and the model is told so). It uploads the
audio as multipart/form-data (`file`, `model`, `response_format=json`) to
`{api_base}/audio/transcriptions`, with the key as a Bearer token when one
is configured, and reads `{"text": ...}` back:

- audio over `max_bytes` (or empty) is refused before anything is sent;
- the whole exchange is bounded in trio time (`timeout_seconds`; httpx's own
  timeouts are off so the bound is exact), redirects are never followed (they
  would carry the key elsewhere), and an answer over `MAX_ANSWER_BYTES` is
  refused as soon as that is known;
- the transcript is stripped of control characters but newlines and tabs,
  and cut at `MAX_TRANSCRIPT_CHARS` with a marker (a long recording must not
  flood the model's context).

Every failure is one `TranscriptionError` whose message names the cause (the
HTTP status and the server's own error message, no answer in time...): never
the key, which is scrubbed from anything the server sends back. The client
is the caller's (its connection pool); `Transcriber` never closes it.
`transcriber_for(config, client)` builds one from `TranscriptionConfig`, or
None when no endpoint is configured.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

import attrs
import httpx
import trio

from autobot.config.schema import TranscriptionConfig
from autobot.config.secret import REDACTED, Secret
from autobot.http.body import BodyTooLarge, Overflow, declared_over, read_capped

ROUTE = "/audio/transcriptions"
MAX_AUDIO_BYTES = 25 * 1024 * 1024  # what OpenAI's endpoint takes
MAX_ANSWER_BYTES = 1024 * 1024
MAX_TRANSCRIPT_CHARS = 20_000
MAX_ERROR_CHARS = 300
CUT_MARKER = " [... transcript cut: the voice note is longer]"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\"]')


class TranscriptionError(Exception):
    """A voice note was not transcribed; the message says why (never the key)."""


def _endpoint(api_base: str) -> str:
    """`{api_base}/audio/transcriptions`; raises `ValueError` for anything but
    a plain http(s) URL (no credentials, query or fragment: URLs are logged)."""
    parts = urllib.parse.urlsplit(api_base)
    if "@" in api_base or parts.query or parts.fragment:
        raise ValueError(
            "the transcription api_base must not carry credentials, a query or a fragment"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the transcription api_base must be an http(s) URL, not {api_base!r}")
    return api_base.rstrip("/") + ROUTE


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"Transcriber.{attribute.name} must be > 0, got {value!r}")


def _audio_cap(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 < value <= MAX_AUDIO_BYTES:
        raise ValueError(f"Transcriber.max_bytes must be 1 to {MAX_AUDIO_BYTES}, got {value!r}")


@attrs.frozen(kw_only=True)
class Transcriber:
    """One transcription endpoint (see the module docstring). `url` is the
    endpoint's full URL (`transcriber_for` builds it from `api_base`).
    Construction raises `ValueError` for an empty model or bad limits."""

    client: httpx.AsyncClient = attrs.field(repr=False)
    url: str
    model: str = attrs.field(validator=attrs.validators.min_len(1))
    api_key: Secret | None = attrs.field(default=None, repr=False)
    max_bytes: int = attrs.field(default=MAX_AUDIO_BYTES, validator=_audio_cap)
    timeout_seconds: float = attrs.field(default=60.0, validator=_positive)

    async def __call__(self, audio: bytes, *, filename: str, mime_type: str) -> str:
        """The text spoken in `audio` (a file named `filename`, of `mime_type`).
        Raises `TranscriptionError`; `ValueError` for a file name with a path
        or control characters (the caller's bug)."""
        if not filename or _UNSAFE_NAME.search(filename):
            raise ValueError(f"an audio file name is one plain name, not {filename!r}")
        if not 0 < len(audio) <= self.max_bytes:
            raise TranscriptionError(
                f"the voice note is {len(audio)} bytes; at most {self.max_bytes} are sent"
            )
        headers = {"accept-encoding": "identity"}
        if self.api_key is not None:
            headers["authorization"] = f"Bearer {self.api_key.reveal()}"
        form = {"model": self.model, "response_format": "json"}
        files = {"file": (filename, audio, mime_type or "application/octet-stream")}
        status, body = await self._exchange(headers=headers, data=form, files=files)
        if status != 200:
            raise TranscriptionError(f"HTTP {status}: {self._error_message(body)}")
        return _transcript(body)

    async def _exchange(self, **request: Any) -> tuple[int, bytes]:
        """One POST within `timeout_seconds`: the status and the capped body."""
        failure: TranscriptionError
        try:
            with trio.fail_after(self.timeout_seconds):
                async with self.client.stream(
                    "POST", self.url, timeout=None, follow_redirects=False, **request
                ) as response:
                    encoding = response.headers.get("content-encoding", "identity")
                    if encoding.lower() != "identity":
                        raise TranscriptionError("the answer is compressed; it was not read")
                    return response.status_code, await _read_capped(response)
        except trio.TooSlowError:
            failure = TranscriptionError(f"no answer within {self.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            failure = TranscriptionError(f"{type(exc).__name__}: {self._scrub(str(exc))}")
        raise failure  # outside the handler: nothing holding the request is chained

    def _error_message(self, body: bytes) -> str:
        """The server's own error message (`{"error": {"message"}}`), else its text."""
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if not isinstance(message, str):
            message = body.decode("utf-8", "replace") or "no detail"
        return self._scrub(message)

    def _scrub(self, text: str) -> str:
        """`text` on one bounded line, with the key redacted."""
        if self.api_key is not None and self.api_key.reveal():
            text = text.replace(self.api_key.reveal(), REDACTED)
        return _CONTROL.sub(" ", text).replace("\n", " ")[:MAX_ERROR_CHARS]


def transcriber_for(config: TranscriptionConfig, client: httpx.AsyncClient) -> Transcriber | None:
    """The configured endpoint's `Transcriber`, or None when `api_base` is
    unset. Raises `ValueError` for an unusable `api_base` or limits."""
    if config.api_base is None:
        return None
    return Transcriber(
        client=client,
        url=_endpoint(config.api_base),
        model=config.model,
        api_key=config.api_key,
        max_bytes=config.max_bytes,
        timeout_seconds=config.timeout_seconds,
    )


def _transcript(body: bytes) -> str:
    """The cleaned text of a 200 answer; raises `TranscriptionError`."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise TranscriptionError("the answer is not JSON") from None
    text = answer.get("text") if isinstance(answer, dict) else None
    if not isinstance(text, str):
        raise TranscriptionError('the answer has no "text"')
    cleaned = _CONTROL.sub("", text).strip()
    if not cleaned:
        raise TranscriptionError("no speech was recognised")
    if len(cleaned) > MAX_TRANSCRIPT_CHARS:
        return cleaned[:MAX_TRANSCRIPT_CHARS] + CUT_MARKER
    return cleaned


async def _read_capped(response: httpx.Response) -> bytes:
    """The raw body; raises `TranscriptionError` once it exceeds `MAX_ANSWER_BYTES`."""
    too_large = TranscriptionError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
    if declared_over(response.headers, MAX_ANSWER_BYTES):
        raise too_large
    try:
        return (await read_capped(response.aiter_raw(), MAX_ANSWER_BYTES, Overflow.REFUSE)).data
    except BodyTooLarge:
        raise too_large from None
