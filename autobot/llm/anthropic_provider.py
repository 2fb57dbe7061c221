"""`AnthropicProvider`: the Messages API through the official `anthropic` SDK, loaded lazily.

Importing the SDK costs about a second of CPU and 50 MB, so this module does
not: a provider is built cheaply (the doctor, `autobot new`, `--help` never
load the SDK), and the SDK with its TLS context is loaded once per provider,
in a worker thread so the event loop keeps serving, by the first `complete`
(or an explicit `prepare()`): an idle gateway does not carry it, and the first
model call after a start waits about a second for it, once. Calls that arrive
while it loads wait for that one load, never longer; what it loaded then joins
the gateway's frozen start-up heap (`join_frozen_heap`). The SDK side
(clients, timeouts, what a failed attempt means) is `anthropic_sdk`.
"""

from __future__ import annotations

import gc
import random
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import trio

from autobot.config.secret import Secret
from autobot.llm.anthropic_wire import request_params
from autobot.llm.limits import ProviderLimits
from autobot.llm.retry import call_with_retries
from autobot.llm.types import LLMRequest, LLMResponse, ProviderError
from autobot.logs.records import Logger

if TYPE_CHECKING:
    from autobot.llm.anthropic_sdk import SdkClients

DEFAULT_API_BASE = "https://api.anthropic.com"
# Threads that load the SDK for one provider: it is loaded once, and a second
# import would only wait for the first on the interpreter's import lock.
SDK_LOAD_THREADS = 1


def load_sdk() -> tuple[type[SdkClients], ssl.SSLContext]:
    """Import the SDK (`anthropic_sdk`) and build the shared TLS context.

    Blocking (about a second): run it in a worker thread. Raises what the
    import raises (`ImportError` when the SDK is not installed)."""
    from autobot.llm.anthropic_sdk import SdkClients, tls_context

    return SdkClients, tls_context()


@attrs.define(kw_only=True, eq=False)
class AnthropicProvider:
    """Completes conversations with Claude; satisfies `ManagedProvider`.

    Owns the SDK clients once loaded (`anthropic_sdk.SdkClients`): call
    `aclose()` or use it as an async context manager. `api_base` is the SDK
    `base_url` (a proxy or gateway; the SDK appends `/v1/messages`).
    `sdk_loader` is the blocking load, run in a worker thread (`load_sdk`;
    a test may replace it).
    `complete` raises `ProviderError` once retries are exhausted, on a
    non-retryable failure, when the SDK cannot be loaded or after `aclose()`.
    """

    api_key: Secret
    limits: ProviderLimits
    rng: random.Random
    api_base: str = DEFAULT_API_BASE
    stream: bool = True
    logger: Logger | None = None
    wall_clock: Callable[[], float] = time.time
    sdk_loader: Callable[[], tuple[type[SdkClients], ssl.SSLContext]] = load_sdk
    _sdk: SdkClients | None = attrs.field(init=False, default=None, repr=False)
    _loading: trio.Lock = attrs.field(init=False, factory=trio.Lock, repr=False)
    _load_threads: trio.CapacityLimiter = attrs.field(
        init=False, factory=lambda: trio.CapacityLimiter(SDK_LOAD_THREADS), repr=False
    )
    _closed: bool = attrs.field(init=False, default=False)

    @property
    def name(self) -> str:
        return "anthropic"

    @property
    def loaded(self) -> bool:
        """Whether the SDK clients are open (the next call will not wait for them)."""
        return self._sdk is not None

    async def prepare(self) -> None:
        """Load the SDK and open the clients now rather than at the first call.

        Idempotent; a call while another loads waits for that load. Raises
        `ProviderError` when the SDK or the CA bundle cannot be loaded
        (`ImportError`, `OSError`; the next call tries again) or the provider
        is closed."""
        await self._clients()

    async def complete(self, request: LLMRequest) -> LLMResponse:
        params = request_params(request)
        sdk = await self._clients()
        return await call_with_retries(
            sdk.attempts(params),
            provider=self.name,
            limits=self.limits,
            rng=self.rng,
            logger=self.logger,
        )

    async def aclose(self) -> None:
        """Close the clients' connections; any later call raises `ProviderError`."""
        self._closed = True
        if self._sdk is not None:
            sdk, self._sdk = self._sdk, None
            await sdk.aclose()

    async def __aenter__(self) -> AnthropicProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _clients(self) -> SdkClients:
        if self._sdk is not None:
            return self._sdk
        async with self._loading:
            if self._sdk is None:
                self._check_open()
                try:
                    # not abandoned on cancel: the import finishes and is kept
                    clients, tls = await trio.to_thread.run_sync(
                        self.sdk_loader, limiter=self._load_threads
                    )
                except (ImportError, OSError) as exc:  # not installed; no CA bundle
                    reason = f"{type(exc).__name__}: {exc}"
                    raise ProviderError(
                        f"{self.name}: the anthropic SDK cannot be loaded ({reason})"
                    ) from None
                self._check_open()  # closed while it loaded: open nothing
                join_frozen_heap()
                self._sdk = clients.open(
                    api_key=self.api_key,
                    api_base=self.api_base,
                    limits=self.limits,
                    stream=self.stream,
                    tls=tls,
                    wall_clock=self.wall_clock,
                )
            return self._sdk

    def _check_open(self) -> None:
        if self._closed:
            raise ProviderError(f"{self.name}: the provider is closed")


def join_frozen_heap() -> None:
    """The gateway serves with its start-up heap frozen (`serving_gc`); the SDK,
    loaded later, would stay outside it and every full collection would scan its
    ~140k objects (~0.1 s pause of the event loop). Once it is loaded, and only
    while the heap is frozen, it is frozen with the rest (whatever else is alive
    then is frozen too: still freed by reference counting; only a reference
    cycle among it waits for the unfreeze when the gateway stops)."""
    if gc.get_freeze_count():
        gc.freeze()
