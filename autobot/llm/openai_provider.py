"""`OpenAICompatibleProvider`: any `/v1/chat/completions` endpoint over httpx.

Serves openai, openrouter, deepseek, groq and vllm: they differ only in
`api_base`, the key, and (for api.openai.com) the name of the output limit.
Retries follow `call_with_retries`; nothing is retried by httpx itself.

Answers are not streamed: every compatible server returns `usage` (which the
token budgets depend on) in a plain completion, while in a stream it needs
`stream_options`, which not every server accepts, and tool-call deltas are
assembled differently by different servers. Nothing arrives until the whole
answer is generated, so the read timeout is `ProviderLimits.response_read`
(long), and a timeout or failure once the request was sent is not retried
(the answer may be generated and billed; see `retry.timeout_failure`).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import httpx

from autobot.config.secret import Secret
from autobot.llm.limits import ProviderLimits, pool_sizes
from autobot.llm.openai_wire import request_body, response_from_completion
from autobot.llm.retry import (
    AttemptFailed,
    Failure,
    call_with_retries,
    interrupted_failure,
    status_failure,
    timeout_failure,
    transport_failure,
)
from autobot.llm.types import LLMRequest, LLMResponse
from autobot.llm.wire_common import InvalidResponse
from autobot.logs.records import Logger

REQUEST_ID_HEADER = "x-request-id"


def chat_completions_url(api_base: str) -> str:
    """`{api_base}/v1/chat/completions`, without doubling a trailing `/v1`.

    An `api_base` that already ends in `/chat/completions` is used as is.
    """
    base = api_base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return f"{base}/chat/completions"
    return f"{base}/v1/chat/completions"


def http_timeout(limits: ProviderLimits) -> httpx.Timeout:
    """The httpx timeout for `limits`: connect/pool from `connect`, write from
    `read`, read from `response_read` (a non-streamed answer arrives whole)."""
    return httpx.Timeout(
        connect=limits.connect, read=limits.response_read, write=limits.read, pool=limits.connect
    )


@attrs.define(kw_only=True)
class OpenAICompatibleProvider:
    """Completes conversations through an OpenAI-compatible API; satisfies `LLMProvider`.

    `name` is the configured provider (`openai`, `groq`, ...) and appears in
    errors and logs. `api_key` may be None for a keyless local server (vllm).
    `max_tokens_field` is the body key for the output limit. Owns one
    `httpx.AsyncClient` per connection pool (see `pool_sizes`), used in
    rotation: call `aclose()` or use it as an async context manager. `complete` raises `ProviderError` once retries are exhausted or
    on a non-retryable failure.
    """

    name: str
    api_base: str
    api_key: Secret | None
    limits: ProviderLimits
    rng: random.Random
    max_tokens_field: str = "max_tokens"
    logger: Logger | None = None
    wall_clock: Callable[[], float] = time.time
    _clients: list[httpx.AsyncClient] = attrs.field(init=False, repr=False)
    _rotation: Iterator[httpx.AsyncClient] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        tls = httpx.create_ssl_context()  # built once: it costs ~0.1 s
        self._clients = [
            httpx.AsyncClient(
                timeout=http_timeout(self.limits),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                follow_redirects=False,
                verify=tls,
            )
            for size in pool_sizes(self.limits)
        ]
        self._rotation = itertools.cycle(self._clients)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        body = request_body(request, max_tokens_field=self.max_tokens_field)
        client = next(self._rotation)
        return await call_with_retries(
            lambda: self._attempt(client, body),
            provider=self.name,
            limits=self.limits,
            rng=self.rng,
            logger=self.logger,
        )

    async def prepare(self) -> None:
        """Nothing to load ahead of the first call: httpx comes with this module
        and the clients are open (`ManagedProvider.prepare`)."""

    async def aclose(self) -> None:
        """Close every HTTP client's connections."""
        for client in self._clients:
            await client.aclose()

    async def __aenter__(self) -> OpenAICompatibleProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _headers(self) -> dict[str, str]:
        if self.api_key is None:
            return {}
        return {"authorization": f"Bearer {self.api_key.reveal()}"}

    async def _attempt(self, client: httpx.AsyncClient, body: Mapping[str, Any]) -> LLMResponse:
        """One request; every failure becomes `AttemptFailed` with a log-safe reason."""
        request = client.build_request(
            "POST", chat_completions_url(self.api_base), json=body, headers=self._headers()
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            unsent = isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.WriteTimeout)
            raise AttemptFailed(timeout_failure(request_sent=not unsent)) from None
        except httpx.TransportError:
            raise AttemptFailed(transport_failure("connection failed")) from None
        try:
            await response.aread()
        except httpx.TransportError:
            raise AttemptFailed(interrupted_failure()) from None
        finally:
            await response.aclose()
        headers = {name.lower(): value for name, value in response.headers.items()}
        if not response.is_success:
            raise AttemptFailed(
                status_failure(
                    response.status_code,
                    headers,
                    now=self.wall_clock(),
                    request_id_header=REQUEST_ID_HEADER,
                )
            )
        try:
            completion = response.json()
        except ValueError:
            raise AttemptFailed(
                Failure(reason="invalid response: not JSON", retryable=False)
            ) from None
        if not isinstance(completion, Mapping):
            raise AttemptFailed(Failure(reason="invalid response: not an object", retryable=False))
        try:
            return response_from_completion(completion)
        except InvalidResponse as exc:
            reason = f"invalid response: {exc}"
        raise AttemptFailed(Failure(reason=reason, retryable=False))
