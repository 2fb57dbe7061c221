"""Choosing and building the provider a model string names.

`select_provider` is pure: `provider/model` picks the provider when the first
segment is a known provider name (`openrouter/anthropic/claude-3.5` ->
openrouter, `anthropic/claude-3.5`); any other string is a bare model for the
first configured provider in `PROVIDER_NAMES` order. `build_provider` turns
the choice into an `AnthropicProvider` or `OpenAICompatibleProvider`, cheaply:
importing this module, or building an Anthropic provider, never imports the
`anthropic` SDK (about a second and 50 MB); the provider loads it in a worker
thread on `prepare()` or its first call (see `anthropic_provider`).
"""

from __future__ import annotations

import random
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from autobot.config.schema import PROVIDER_NAMES, ProviderConfig, ProvidersConfig
from autobot.llm.anthropic_provider import DEFAULT_API_BASE as ANTHROPIC_API_BASE
from autobot.llm.anthropic_provider import AnthropicProvider
from autobot.llm.limits import ProviderLimits
from autobot.llm.types import LLMProvider
from autobot.logs.records import Logger

# Default endpoints of the OpenAI-compatible providers; vllm has none (api_base required).
DEFAULT_API_BASES = {
    "anthropic": ANTHROPIC_API_BASE,
    "openai": "https://api.openai.com",
    "openrouter": "https://openrouter.ai/api",
    "deepseek": "https://api.deepseek.com",
    "groq": "https://api.groq.com/openai",
}
KEYLESS_PROVIDERS = frozenset({"vllm"})  # a local server often has no key


class ProviderConfigError(Exception):
    """The providers section cannot serve the requested model."""


class ProviderNotConfigured(ProviderConfigError):
    """The chosen provider (or every provider) lacks its credentials or endpoint."""


class ManagedProvider(LLMProvider, Protocol):
    """An `LLMProvider` that owns connections and must be closed.

    `prepare()` does now what the first call would otherwise wait for (the
    Anthropic SDK import); it is idempotent and raises `ProviderError` when
    that fails (the first call then tries again)."""

    async def prepare(self) -> None: ...

    async def aclose(self) -> None: ...


def is_configured(name: str, config: ProviderConfig) -> bool:
    """A provider is usable with a key, or (vllm) with an `api_base`."""
    if name in KEYLESS_PROVIDERS:
        return bool(config.api_base)
    return config.api_key is not None


def _missing(name: str) -> str:
    return (
        f"providers.{name}.api_base" if name in KEYLESS_PROVIDERS else f"providers.{name}.api_key"
    )


def select_provider(model: str, providers: ProvidersConfig) -> tuple[str, str]:
    """(provider name, bare model) for `model`.

    Raises `ValueError` for an empty model or a provider prefix with no model
    after it, `ProviderNotConfigured` when the named provider (or, for a bare
    model, every provider) is not configured.
    """
    if not model.strip():
        raise ValueError("the model name is empty")
    prefix, slash, rest = model.partition("/")
    if slash and prefix in PROVIDER_NAMES:
        if not rest:
            raise ValueError(f"model {model!r} names provider {prefix!r} but no model after it")
        if not is_configured(prefix, getattr(providers, prefix)):
            raise ProviderNotConfigured(
                f"model {model!r} needs provider {prefix!r}: set {_missing(prefix)}"
            )
        return prefix, rest
    for name in PROVIDER_NAMES:
        if is_configured(name, getattr(providers, name)):
            return name, model
    raise ProviderNotConfigured(
        f"no LLM provider is configured for model {model!r}: set providers.<name>.api_key"
        f" (one of {', '.join(PROVIDER_NAMES)}) or providers.vllm.api_base"
    )


def validate_api_base(name: str, api_base: str) -> str:
    """`api_base` if it is a plain http(s) URL; else `ProviderConfigError`.

    Credentials (any `@`: `https://u:pa/ss@host` splits oddly but is still a
    password), a query or a fragment in the URL are refused: the URL is logged
    and must not carry secrets. The message never repeats the URL.
    """
    parts = urlsplit(api_base)
    if "@" in api_base or parts.query or parts.fragment:
        raise ProviderConfigError(
            f"providers.{name}.api_base must not contain credentials, a query or a fragment"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname or not _valid_port(parts):
        raise ProviderConfigError(
            f"providers.{name}.api_base must be an http(s) URL with a host, "
            "such as https://llm-proxy.example.com"
        )
    return api_base


def _valid_port(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018 -- parsing it is the check (ValueError when malformed)
    except ValueError:
        return False
    return True


def provider_endpoint(name: str, config: ProviderConfig) -> str:
    """The validated base URL for configured provider `name`: its `api_base`, or
    the default endpoint. Raises what `validate_api_base` raises."""
    # A keyless provider is only configured with an api_base, so the default exists.
    return validate_api_base(name, config.api_base or DEFAULT_API_BASES[name])


def build_provider(
    model: str,
    providers: ProvidersConfig,
    *,
    limits: ProviderLimits,
    rng: random.Random | None = None,
    logger: Logger | None = None,
) -> ManagedProvider:
    """The provider that serves `model` (see `select_provider`), built cheaply
    (no SDK import, no connection: see `ManagedProvider.prepare`).

    `rng` drives retry jitter (a fresh `random.Random()` if None); `logger`
    receives a WARN per retry. The caller owns the result and must
    `aclose()` it. Raises what `select_provider` and `validate_api_base` raise.
    """
    name, _ = select_provider(model, providers)
    config: ProviderConfig = getattr(providers, name)
    api_base = provider_endpoint(name, config)
    chosen_rng = rng if rng is not None else random.Random()
    if name == "anthropic":
        assert config.api_key is not None  # is_configured checked it
        return AnthropicProvider(
            api_key=config.api_key, api_base=api_base, limits=limits, rng=chosen_rng, logger=logger
        )
    # imported here: the doctor judges providers with this module and needs no httpx
    from autobot.llm.openai_provider import OpenAICompatibleProvider

    return OpenAICompatibleProvider(
        name=name,
        api_base=api_base,
        api_key=config.api_key,
        limits=limits,
        rng=chosen_rng,
        max_tokens_field="max_completion_tokens" if name == "openai" else "max_tokens",
        logger=logger,
    )
