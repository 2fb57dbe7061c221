"""`AnthropicProvider`: the Messages API through the official `anthropic` SDK.

The SDK runs under trio (it uses anyio). Its own retries are disabled
(`max_retries=0`): `call_with_retries` owns the policy so it is testable.
By default a completion is streamed (SSE), so the read timeout bounds the
silence between events rather than the whole answer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import anthropic
import attrs
import httpx2

from autobot.config.secret import Secret
from autobot.llm.anthropic_wire import request_params, response_from_message
from autobot.llm.limits import ProviderLimits
from autobot.llm.retry import (
    AttemptFailed,
    Failure,
    call_with_retries,
    status_failure,
    transport_failure,
)
from autobot.llm.types import LLMRequest, LLMResponse
from autobot.llm.wire_common import InvalidResponse
from autobot.logs.records import Logger

DEFAULT_API_BASE = "https://api.anthropic.com"


def sdk_timeout(limits: ProviderLimits) -> anthropic.Timeout:
    """The SDK timeout for `limits`: connect/pool from `connect`, read/write from `read`."""
    return anthropic.Timeout(
        connect=limits.connect, read=limits.read, write=limits.read, pool=limits.connect
    )


@attrs.define(kw_only=True)
class AnthropicProvider:
    """Completes conversations with Claude; satisfies `LLMProvider`.

    Owns one `AsyncAnthropic` client (and its connection pool): call `aclose()`
    or use it as an async context manager. `api_base` is the SDK `base_url`
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
    _client: anthropic.AsyncAnthropic = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._client = anthropic.AsyncAnthropic(
            api_key=self.api_key.reveal(),
            base_url=self.api_base,
            max_retries=0,
            timeout=sdk_timeout(self.limits),
        )

    @property
    def name(self) -> str:
        return "anthropic"

    async def complete(self, request: LLMRequest) -> LLMResponse:
        params = request_params(request)
        return await call_with_retries(
            lambda: self._attempt(params),
            provider=self.name,
            limits=self.limits,
            rng=self.rng,
            logger=self.logger,
        )

    async def aclose(self) -> None:
        """Close the SDK client's connections."""
        await self._client.close()

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _attempt(self, params: Mapping[str, Any]) -> LLMResponse:
        """One request; every failure becomes `AttemptFailed` with a log-safe reason."""
        try:
            message = await self._fetch(params)
        except anthropic.APIStatusError as exc:
            headers = {name.lower(): value for name, value in exc.response.headers.items()}
            failure = status_failure(
                exc.status_code, headers, now=self.wall_clock(), error_type=exc.type
            )
        except (anthropic.APITimeoutError, httpx2.TimeoutException):
            failure = transport_failure("timeout")
        except (anthropic.APIConnectionError, httpx2.TransportError):
            failure = transport_failure("connection failed")
        except (anthropic.APIError, ValueError):
            failure = Failure(reason="invalid response", retryable=False)
        else:
            try:
                return response_from_message(message)
            except InvalidResponse as exc:
                failure = Failure(reason=f"invalid response: {exc}", retryable=False)
        raise AttemptFailed(failure)

    async def _fetch(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.stream:
            async with self._client.messages.stream(**params) as stream:
                message = await stream.get_final_message()
        else:
            message = await self._client.messages.create(**params)
        return message.model_dump(mode="json")
