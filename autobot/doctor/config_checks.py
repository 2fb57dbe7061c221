"""Checks on the loaded configuration alone (pure: no I/O, no clock).

Covers the LLM provider and model, the gateway bind address, every enabled
channel (allowlist, credentials, WhatsApp bridge exposure) and the risky
tool switches, plus the INFO lines describing what will be used.
"""

from __future__ import annotations

from autobot.config.schema import PROVIDER_NAMES, Config, ProviderConfig, SandboxMode
from autobot.doctor.findings import Finding, error, info, warning
from autobot.doctor.hosts import is_loopback_host, url_host

_VALID_PROVIDERS = ", ".join(PROVIDER_NAMES)


def split_model(model: str) -> tuple[str | None, str]:
    """`"anthropic/claude-x"` -> `("anthropic", "claude-x")`; no known prefix -> `(None, model)`."""
    prefix, sep, rest = model.partition("/")
    if sep and prefix in PROVIDER_NAMES and rest:
        return prefix, rest
    return None, model


def is_provider_configured(name: str, provider: ProviderConfig) -> bool:
    """A provider counts as configured when it has an API key; a vLLM server
    (usually keyless, on the operator's own machine) also counts with just an
    `api_base`."""
    return provider.api_key is not None or (name == "vllm" and provider.api_base is not None)


def configured_providers(config: Config) -> list[str]:
    """Names of configured providers, in `PROVIDER_NAMES` order."""
    return [
        name
        for name in PROVIDER_NAMES
        if is_provider_configured(name, getattr(config.providers, name))
    ]


def provider_findings(config: Config) -> list[Finding]:
    """No provider at all, or the model naming an unknown / unconfigured one."""
    configured = configured_providers(config)
    model = config.agents.defaults.model
    prefix, bare = split_model(model)
    if not configured:
        wanted = prefix or "anthropic"
        return [
            error(
                "no_provider",
                "No LLM provider configured (no provider has an API key set)",
                f"Set {wanted.upper()}_API_KEY=<key> in .env, with "
                f'providers.{wanted}.api_key: "${{{wanted.upper()}_API_KEY}}" in config.yml',
            )
        ]
    if prefix is None:
        return [
            error(
                "model_provider_unknown",
                f"Model '{model}' does not start with a known provider "
                f"(expected <provider>/<model>, provider one of {_VALID_PROVIDERS})",
                f"Set agents.defaults.model to e.g. '{configured[0]}/<model name>'",
            )
        ]
    if prefix not in configured:
        return [
            error(
                "model_provider_unconfigured",
                f"Model '{model}' uses provider '{prefix}', which has no API key "
                f"(configured: {', '.join(configured)})",
                f"Set providers.{prefix}.api_key, or pick a model of a configured provider",
            )
        ]
    return [info("provider_model", f"LLM: provider '{prefix}', model '{bare}'")]


def gateway_findings(config: Config) -> list[Finding]:
    """The HTTP gateway should listen on loopback only."""
    host = config.gateway.host
    if is_loopback_host(host):
        return []
    return [
        warning(
            "gateway_exposed",
            f"Gateway is bound to '{host}', reachable from other machines "
            "(health, metrics and webhooks exposed)",
            "Set gateway.host: 127.0.0.1 and put a TLS reverse proxy in front "
            "if outside access is needed",
        )
    ]


def _missing(channel: str, fields: list[tuple[str, object | None]]) -> list[Finding]:
    absent = [name for name, value in fields if value is None or value == ""]
    if not absent:
        return []
    names = ", ".join(f"channels.{channel}.{name}" for name in absent)
    return [
        warning(
            "channel_token_missing",
            f"Channel '{channel}' is enabled but {names} not set",
            "Put the credential in .env and reference it with ${VAR} in config.yml",
        )
    ]


def _allowlist(channel: str, allow_from: tuple[str, ...]) -> list[Finding]:
    if not allow_from:
        return [
            warning(
                "channel_allow_from_empty",
                f"Channel '{channel}' is enabled with an empty allow_from: every sender is denied",
                f"Add the user ids allowed to talk to the bot to channels.{channel}.allow_from",
            )
        ]
    if "*" in allow_from:
        return [
            warning(
                "channel_open_to_all",
                f"Channel '{channel}' allows anyone (allow_from contains '*')",
                f"List specific user ids in channels.{channel}.allow_from",
            )
        ]
    return []


def channel_findings(config: Config) -> list[Finding]:
    """Allowlist and credential problems of each enabled channel."""
    channels = config.channels
    findings: list[Finding] = []
    if channels.telegram.enabled:
        findings += _allowlist("telegram", channels.telegram.allow_from)
        findings += _missing("telegram", [("token", channels.telegram.token)])
    if channels.slack.enabled:
        slack = channels.slack
        findings += _allowlist("slack", slack.allow_from)
        findings += _missing(
            "slack", [("bot_token", slack.bot_token), ("app_token", slack.app_token)]
        )
    if channels.whatsapp.enabled:
        whatsapp = channels.whatsapp
        findings += _allowlist("whatsapp", whatsapp.allow_from)
        findings += _missing("whatsapp", [("bridge_token", whatsapp.bridge_token)])
        host = url_host(whatsapp.bridge_url)
        if host is None or not is_loopback_host(host):
            findings.append(
                warning(
                    "whatsapp_bridge_exposed",
                    f"WhatsApp bridge_url '{whatsapp.bridge_url}' is not on loopback: "
                    "the bridge connection can be intercepted or impersonated",
                    "Run the bridge on this machine and set channels.whatsapp.bridge_url "
                    "to ws://127.0.0.1:<port>",
                )
            )
    if channels.zulip.enabled:
        zulip = channels.zulip
        findings += _allowlist("zulip", zulip.allow_from)
        findings += _missing(
            "zulip", [("site", zulip.site), ("email", zulip.email), ("api_key", zulip.api_key)]
        )
    return findings


def tool_findings(config: Config) -> list[Finding]:
    """Risky tool switches and the web-search INFO line."""
    tools = config.tools
    findings: list[Finding] = []
    if tools.sandbox is SandboxMode.NONE:
        findings.append(
            warning(
                "sandbox_disabled",
                "Workspace restrictions are disabled (tools.sandbox: none): the model's "
                "file and exec tools run unconfined on this machine",
                "Set tools.sandbox: auto (and install bubblewrap)",
            )
        )
    if tools.exec.network:
        findings.append(
            warning(
                "exec_network_enabled",
                "tools.exec.network is true: commands run by the model can reach the network",
                "Set tools.exec.network: false unless the bot really needs it",
            )
        )
    if tools.web.ssrf_allowlist:
        findings.append(
            warning(
                "ssrf_allowlist_set",
                "tools.web.ssrf_allowlist lets web_fetch reach private addresses: "
                + ", ".join(tools.web.ssrf_allowlist),
                "Remove entries from tools.web.ssrf_allowlist that the bot does not need",
            )
        )
    if tools.web.search.api_key is None:
        findings.append(
            info(
                "web_search_unconfigured",
                "Web search is not configured (no tools.web.search.api_key)",
                'Set BRAVE_API_KEY in .env and tools.web.search.api_key: "${BRAVE_API_KEY}"',
            )
        )
    return findings


def config_findings(config: Config) -> list[Finding]:
    """Every configuration-only finding, in report order."""
    return [
        *provider_findings(config),
        *gateway_findings(config),
        *channel_findings(config),
        *tool_findings(config),
    ]
