"""The official `anthropic` SDK side of `AnthropicProvider`: clients, timeouts, one attempt.

Importing this module imports the SDK, which costs about a second of CPU and
50 MB: `AnthropicProvider` imports it on first use, in a worker thread (see
`anthropic_provider.load_sdk`), never at start-up. Nothing else imports it.

The SDK runs under trio (it uses anyio). Its own retries are disabled
(`max_retries=0`): `call_with_retries` owns the policy so it is testable.
A completion is streamed by default (SSE; assembled by `StreamedMessage`),
so the read timeout bounds the silence between events rather than the whole
answer (without streaming it is `ProviderLimits.response_read`).
"""

from __future__ import annotations

import functools
import itertools
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import anthropic
import attrs
import httpx2

from autobot.config.secret import Secret
from autobot.llm.anthropic_stream import StreamedMessage
from autobot.llm.anthropic_wire import response_from_message
from autobot.llm.limits import ProviderLimits, pool_sizes
from autobot.llm.retry import (
    AttemptFailed,
    Failure,
    interrupted_failure,
    status_failure,
    timeout_failure,
    transport_failure,
)
from autobot.llm.types import LLMResponse
from autobot.llm.wire_common import InvalidResponse


def tls_context() -> ssl.SSLContext:
    """The TLS context every client shares (loading the CA bundle costs ~0.1 s)."""
    return httpx2.create_ssl_context()


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


@attrs.define(kw_only=True, eq=False)
class SdkClients:
    """Owns one `AsyncAnthropic` client per connection pool (see `pool_sizes`),
    used in rotation; `aclose()` closes them all.

    Build with `open`. `attempts(params)` gives the one-request attempts of a
    conversation (every retry on the same client), for `call_with_retries`.
    """

    stream: bool
    wall_clock: Callable[[], float]
    clients: tuple[anthropic.AsyncAnthropic, ...]
    _rotation: Iterator[anthropic.AsyncAnthropic] = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._rotation = itertools.cycle(self.clients)

    @classmethod
    def open(
        cls,
        *,
        api_key: Secret,
        api_base: str,
        limits: ProviderLimits,
        stream: bool,
        tls: ssl.SSLContext,
        wall_clock: Callable[[], float],
    ) -> SdkClients:
        """Clients for `api_base` (the SDK `base_url`: it appends `/v1/messages`)."""
        clients = tuple(
            anthropic.AsyncAnthropic(
                api_key=api_key.reveal(),
                base_url=api_base,
                max_retries=0,
                timeout=sdk_timeout(limits, stream=stream),
                http_client=sdk_http_client(limits, size, tls, stream=stream),
            )
            for size in pool_sizes(limits)
        )
        return cls(stream=stream, wall_clock=wall_clock, clients=clients)

    def attempts(self, params: Mapping[str, Any]) -> Callable[[], Awaitable[LLMResponse]]:
        """One request with `params` on the next client, as often as it is
        called; each failure raises `AttemptFailed` with a log-safe reason."""
        return functools.partial(self._attempt, next(self._rotation), params)

    async def aclose(self) -> None:
        """Close every client's connections."""
        for client in self.clients:
            await client.close()

    async def _attempt(
        self, client: anthropic.AsyncAnthropic, params: Mapping[str, Any]
    ) -> LLMResponse:
        """A timeout once the request was sent, or a failure once the answer
        started to arrive, is not retried: the answer may be generated and
        billed (see `retry.timeout_failure`)."""
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
