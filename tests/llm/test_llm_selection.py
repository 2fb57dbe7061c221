"""Provider selection from the model string, and the build_provider factory."""

from __future__ import annotations

import random

import attrs
import pytest

from autobot.config.schema import ProviderConfig, ProvidersConfig
from autobot.config.secret import Secret
from autobot.llm.anthropic_provider import AnthropicProvider
from autobot.llm.limits import ProviderLimits
from autobot.llm.openai_provider import OpenAICompatibleProvider
from autobot.llm.selection import (
    ProviderConfigError,
    ProviderNotConfigured,
    build_provider,
    select_provider,
)
from autobot.llm.types import ChatMessage, LLMRequest, Role
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply

KEYED = ProviderConfig(api_key=Secret("k"))
ALL = ProvidersConfig(
    anthropic=KEYED,
    openai=KEYED,
    openrouter=KEYED,
    deepseek=KEYED,
    groq=KEYED,
    vllm=ProviderConfig(api_base="http://127.0.0.1:8000"),
)


def only(**providers: ProviderConfig) -> ProvidersConfig:
    return ProvidersConfig(**providers)


@pytest.mark.parametrize(
    ("model", "providers", "expected"),
    [
        ("anthropic/claude-sonnet-4-5", ALL, ("anthropic", "claude-sonnet-4-5")),
        ("openai/gpt-4o", ALL, ("openai", "gpt-4o")),
        ("openrouter/anthropic/claude-3.5", ALL, ("openrouter", "anthropic/claude-3.5")),
        ("deepseek/deepseek-chat", ALL, ("deepseek", "deepseek-chat")),
        ("groq/llama-3.3-70b", ALL, ("groq", "llama-3.3-70b")),
        ("vllm/meta-llama/Llama-3.1-8B", ALL, ("vllm", "meta-llama/Llama-3.1-8B")),
        # bare names: the first configured provider, in the documented order
        ("claude-sonnet-4-5", ALL, ("anthropic", "claude-sonnet-4-5")),
        ("gpt-4o", only(openai=KEYED, groq=KEYED), ("openai", "gpt-4o")),
        ("llama", only(groq=KEYED, deepseek=KEYED), ("deepseek", "llama")),
        ("x", only(vllm=ProviderConfig(api_base="http://h")), ("vllm", "x")),
        # an unknown first segment is part of a bare model name
        ("meta-llama/Llama-3.1-8B", only(groq=KEYED), ("groq", "meta-llama/Llama-3.1-8B")),
        ("Anthropic/claude", only(groq=KEYED), ("groq", "Anthropic/claude")),
    ],
)
def test_select_provider(model: str, providers: ProvidersConfig, expected: tuple[str, str]) -> None:
    assert select_provider(model, providers) == expected


@pytest.mark.parametrize(
    ("model", "providers", "message"),
    [
        ("anthropic/claude", only(openai=KEYED), r"needs provider 'anthropic': set providers\.anthropic\.api_key"),
        ("vllm/llama", only(vllm=KEYED), r"set providers\.vllm\.api_base"),
        ("vllm/llama", only(vllm=ProviderConfig(api_base="")), r"set providers\.vllm\.api_base"),
        ("claude", ProvidersConfig(), r"no LLM provider is configured for model 'claude'"),
        ("claude", only(openai=ProviderConfig(api_base="https://x")), r"no LLM provider"),
    ],
)  # fmt: skip
def test_unconfigured_providers_are_refused(
    model: str, providers: ProvidersConfig, message: str
) -> None:
    with pytest.raises(ProviderNotConfigured, match=message):
        select_provider(model, providers)


@pytest.mark.parametrize(
    ("model", "message"), [("", "empty"), ("   ", "empty"), ("groq/", "no model after it")]
)
def test_malformed_model_strings(model: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_provider(model, ALL)


LIMITS = ProviderLimits()


@pytest.mark.parametrize(
    ("model", "name", "api_base", "max_tokens_field"),
    [
        ("openai/gpt-4o", "openai", "https://api.openai.com", "max_completion_tokens"),
        ("openrouter/a/b", "openrouter", "https://openrouter.ai/api", "max_tokens"),
        ("deepseek/c", "deepseek", "https://api.deepseek.com", "max_tokens"),
        ("groq/d", "groq", "https://api.groq.com/openai", "max_tokens"),
        ("vllm/e", "vllm", "http://127.0.0.1:8000", "max_tokens"),
    ],
)
async def test_build_openai_compatible_providers_with_default_bases(
    model: str, name: str, api_base: str, max_tokens_field: str
) -> None:
    llm = build_provider(model, ALL, limits=LIMITS, rng=random.Random(1))
    try:
        assert isinstance(llm, OpenAICompatibleProvider)
        assert (llm.name, llm.api_base, llm.max_tokens_field) == (name, api_base, max_tokens_field)
        assert llm.limits is LIMITS
    finally:
        await llm.aclose()


async def test_build_anthropic_uses_configured_api_base_end_to_end() -> None:
    async with serve_fake_anthropic([ScriptedReply(text="from the proxy")]) as fake:
        providers = attrs.evolve(
            ALL, anthropic=ProviderConfig(api_key=Secret("sk-ant-x"), api_base=fake.base_url + "/p")
        )
        name, bare = select_provider("anthropic/claude-x", providers)
        llm = build_provider("anthropic/claude-x", providers, limits=LIMITS)
        assert isinstance(llm, AnthropicProvider)
        try:
            response = await llm.complete(
                LLMRequest(
                    model=bare, system="", messages=(ChatMessage(role=Role.USER, content="hi"),)
                )
            )
        finally:
            await llm.aclose()
    assert (name, response.text) == ("anthropic", "from the proxy")
    assert fake.requests[0].path == "/p/v1/messages"
    assert fake.bodies()[0]["model"] == "claude-x"


@pytest.mark.parametrize(
    ("api_base", "message"),
    [
        ("ftp://h", "must be an http"),
        ("api.openai.com", "must be an http"),
        ("https://", "must be an http"),
        ("https://user:pw@h", "must not contain credentials"),
        ("https://h/v1?key=sk-1", "must not contain credentials, a query"),
        ("https://h/#frag", "a fragment"),
        ("https://u:pa/ss@h", "must not contain credentials"),  # splits as host 'u'
        ("https://user@h", "must not contain credentials"),
        ("https://h:notaport/v1", "must be an http"),
        ("ftp://user:pw@h?key=sk-1", "must not contain credentials"),
    ],
)
def test_bad_api_base_is_refused_without_echoing_credentials(api_base: str, message: str) -> None:
    providers = attrs.evolve(ALL, groq=ProviderConfig(api_key=Secret("k"), api_base=api_base))
    with pytest.raises(ProviderConfigError, match=message) as raised:
        build_provider("groq/x", providers, limits=LIMITS)
    for secretish in ("user", "pw", "pa/ss", "sk-1", "notaport"):  # the URL is never repeated
        assert secretish not in str(raised.value)
