"""What `autobot new` can generate: providers, channels and their secrets (pure).

`BotChoices` is a validated selection; `choose` builds one from user input
and raises `ScaffoldError` with the list of valid names for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from autobot.config.schema import CHANNEL_NAMES, PROVIDER_NAMES


class ScaffoldError(Exception):
    """`autobot new` refused to run; the message says why and what is valid.

    Raised before anything is written, or after a failure has been cleaned up.
    """


class InputEnded(ScaffoldError):
    """The terminal closed its input (Ctrl-D) before a question was answered."""


# The model each provider's fresh bot uses (`<provider>/<model>`).
DEFAULT_MODELS: dict[str, str] = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai": "openai/gpt-4.1",
    "openrouter": "openrouter/anthropic/claude-sonnet-4.5",
    "deepseek": "deepseek/deepseek-chat",
    "groq": "groq/llama-3.3-70b-versatile",
    "vllm": "vllm/meta-llama/Llama-3.1-8B-Instruct",
}

# Base URL written for providers that need one (a local vLLM server).
DEFAULT_API_BASES: dict[str, str] = {"vllm": "http://127.0.0.1:8000/v1"}

# `.env` variables each channel needs: (variable, comment).
CHANNEL_VARIABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "telegram": (("TELEGRAM_BOT_TOKEN", "Telegram bot token from @BotFather"),),
    "slack": (
        ("SLACK_BOT_TOKEN", "Slack bot token (xoxb-...)"),
        ("SLACK_APP_TOKEN", "Slack app-level token for Socket Mode (xapp-...)"),
    ),
    "zulip": (("ZULIP_API_KEY", "the bot's Zulip API key"),),
}

# Plain (non-secret) settings a channel needs, written empty into config.yml
# for the operator to fill in: (key under channels.<name>, comment).
CHANNEL_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "zulip": (
        ("site", "your Zulip server, e.g. https://example.zulipchat.com"),
        ("email", "the bot's Zulip email address"),
    ),
}

SEARCH_VARIABLE = ("BRAVE_API_KEY", "optional: Brave Search API key for the web_search tool")


def provider_variable(provider: str) -> str:
    """The `.env` variable holding `provider`'s API key (`ANTHROPIC_API_KEY`)."""
    return f"{provider.upper()}_API_KEY"


@attrs.frozen(kw_only=True)
class BotChoices:
    """A validated provider and an ordered, duplicate-free channel selection."""

    provider: str
    channels: tuple[str, ...]


def validate_provider(provider: str) -> str:
    """`provider` normalized to lower case; ScaffoldError listing valid ones otherwise."""
    name = provider.strip().lower()
    if name not in PROVIDER_NAMES:
        raise ScaffoldError(
            f"unknown provider {provider!r}: choose one of {', '.join(PROVIDER_NAMES)}"
        )
    return name


def validate_channels(channels: Sequence[str]) -> tuple[str, ...]:
    """Channels normalized, de-duplicated in order; ScaffoldError naming the bad ones."""
    names = [channel.strip().lower() for channel in channels]
    unknown = [
        channel for channel, name in zip(channels, names, strict=True) if name not in CHANNEL_NAMES
    ]
    if unknown:
        raise ScaffoldError(
            f"unknown channel{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(c) for c in unknown)}: choose from {', '.join(CHANNEL_NAMES)}"
        )
    return tuple(dict.fromkeys(names))


def choose(provider: str, channels: Sequence[str]) -> BotChoices:
    """Validate both selections at once."""
    return BotChoices(provider=validate_provider(provider), channels=validate_channels(channels))
