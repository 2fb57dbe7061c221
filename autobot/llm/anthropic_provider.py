"""`AnthropicProvider`: the Messages API through the official `anthropic` SDK.

The SDK runs under trio (it uses anyio). Its own retries are disabled
(`max_retries=0`): `call_with_retries` owns the policy so it is testable.
By default a completion is streamed (SSE; assembled by `StreamedMessage`), so
the read timeout bounds the silence between events rather than the whole answer (without streaming it is
`ProviderLimits.response_read`). A timeout once the request was sent, or a
failure once the answer started to arrive, is not retried: the answer may be
generated and billed (see `retry.timeout_failure`).
"""

from __future__ import annotations

import itertools
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import anthropic
import attrs
import httpx2

from autobot.config.secret import Secret
from autobot.llm.anthropic_stream import StreamedMessage
from autobot.llm.anthropic_wire import request_params, response_from_message
from autobot.llm.limits import ProviderLimits, pool_sizes
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

DEFAULT_API_BASE = "https://api.anthropic.com"


def sdk_timeout(limits: ProviderLimits, *, stream: bool = True) -> anthropic.Timeout:
    """The SDK timeout for `limits`: connect/pool from `connect`, write from
    `read`, read from `read` when streaming, else from `response_read`."""
    read = limits.read if stream else limits.response_read
    return anthropic.Timeout(
        connect=limits.connect, read=read, write=limits.read, pool=limits.connect
    )


def sdk_http_client(
    limits: ProviderLimits, pool_size: int, tls: ssl.SSLContext, *, stream: bool = True
) -> httpx2.AsyncClient:
    """An SDK HTTP client: one pool of `pool_size` connections, our timeouts, no redirects."""
    return anthropic.DefaultAsyncHttpxClient(
        timeout=sdk_timeout(limits, stream=stream),
        limits=httpx2.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
        follow_redirects=False,
        verify=tls,
    )


@attrs.define(kw_only=True)
class AnthropicProvider:
    """Completes conversations with Claude; satisfies `LLMProvider`.

    Owns one `AsyncAnthropic` client per connection pool (see `pool_sizes`),
    used in rotation: call `aclose()` or use it as an async context manager. `api_base` is the SDK `base_url`
    (a proxy or gateway; the SDK appends `/v1/messages`). `complete` raises
    `ProviderError` once retries are exhausted or on a non-retryable failure.
    """

    api_key: Secret
    limits: ProviderLimits
    rng: random.Random
    api_base: str = DEFAULT_API_BASE
    stream: bool = True
    logger: Logger | None = None
    wall_clock: Callable[[], float] = time.time
    _clients: list[anthropic.AsyncAnthropic] = attrs.field(init=False, repr=False)
    _rotation: Iterator[anthropic.AsyncAnthropic] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        tls = httpx2.create_ssl_context()  # built once: it costs ~0.1 s
        self._clients = [
            anthropic.AsyncAnthropic(
                api_key=self.api_key.reveal(),
                base_url=self.api_base,
                max_retries=0,
                timeout=sdk_timeout(self.limits, stream=self.stream),
                http_client=sdk_http_client(self.limits, size, tls, stream=self.stream),
            )
            for size in pool_sizes(self.limits)
        ]
        self._rotation = itertools.cycle(self._clients)

    @property
    def name(self) -> str:
        return "anthropic"

    async def complete(self, request: LLMRequest) -> LLMResponse:
        params = request_params(request)
        client = next(self._rotation)
        return await call_with_retries(
            lambda: self._attempt(client, params),
            provider=self.name,
            limits=self.limits,
            rng=self.rng,
            logger=self.logger,
        )

    async def aclose(self) -> None:
        """Close every SDK client's connections."""
        for client in self._clients:
            await client.close()

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _attempt(
        self, client: anthropic.AsyncAnthropic, params: Mapping[str, Any]
    ) -> LLMResponse:
        """One request; every failure becomes `AttemptFailed` with a log-safe reason."""
        answering: list[bool] = []  # set once the answer started to arrive
        try:
            message = await self._fetch(client, params, answering)
        except anthropic.APIStatusError as exc:  # an HTTP error, or the API's own error event
            headers = {name.lower(): value for name, value in exc.response.headers.items()}
            failure = status_failure(
                exc.status_code, headers, now=self.wall_clock(), error_type=exc.type
            )
        except (anthropic.APITimeoutError, httpx2.TimeoutException) as exc:
            cause = exc.__cause__ if isinstance(exc, anthropic.APITimeoutError) else exc
            unsent = isinstance(
                cause, httpx2.ConnectTimeout | httpx2.PoolTimeout | httpx2.WriteTimeout
            )
            failure = timeout_failure(request_sent=bool(answering) or not unsent)
        except (anthropic.APIConnectionError, httpx2.TransportError):
            failure = interrupted_failure() if answering else transport_failure("connection failed")
        except (anthropic.APIError, ValueError):
            failure = Failure(reason="invalid response", retryable=False)
        else:
            try:
                return response_from_message(message)
            except InvalidResponse as exc:
                failure = Failure(reason=f"invalid response: {exc}", retryable=False)
        raise AttemptFailed(failure)

    async def _fetch(
        self, client: anthropic.AsyncAnthropic, params: Mapping[str, Any], answering: list[bool]
    ) -> dict[str, Any]:
        if not self.stream:
            message = await client.messages.create(**params)
            dumped: dict[str, Any] = message.model_dump(mode="json")
            return dumped
        events = await client.messages.create(**params, stream=True)
        answering.append(True)  # status and headers are in: events follow
        assembled = StreamedMessage()
        async with events:
            async for event in events:
                assembled.feed(event)
        return assembled.message()
