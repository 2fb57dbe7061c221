"""Checks on the loaded configuration alone (pure: no I/O, no clock).

Covers the LLM provider and model, the gateway bind address, every enabled
channel (allowlist, credentials, WhatsApp bridge exposure) and the risky
tool switches, plus the INFO lines describing what will be used.
"""

from __future__ import annotations

from autobot.channels.access import AccessConfigError, AccessPolicy
from autobot.config.schema import (
    PROVIDER_NAMES,
    Config,
    SandboxMode,
    TelegramConfig,
    TelegramMode,
)
from autobot.doctor.channel_common import allowlist_findings, missing_findings
from autobot.doctor.findings import Finding, error, info, quoted, untrusted, warning
from autobot.doctor.slack_checks import slack_findings
from autobot.doctor.zulip_checks import zulip_findings
from autobot.llm.selection import (
    ProviderConfigError,
    ProviderNotConfigured,
    is_configured,
    provider_endpoint,
    select_provider,
)
from autobot.security.hosts import is_loopback_host


def _no_provider_at_all(config: Config) -> bool:
    return not any(is_configured(name, getattr(config.providers, name)) for name in PROVIDER_NAMES)


def provider_findings(config: Config) -> list[Finding]:
    """The LLM provider judged exactly as the gateway judges it.

    Calls the gateway's own `select_provider` and `provider_endpoint`
    (`autobot.llm.selection`), so whatever would stop `autobot gateway` from
    building its provider is an error here, with the same message. A model
    without a provider prefix is accepted by the gateway (it goes to the first
    configured provider): a warning, so the choice is made explicit.
    """
    model = config.agents.defaults.model
    prefix = model.partition("/")[0]
    try:
        name, bare = select_provider(model, config.providers)
        provider_endpoint(name, getattr(config.providers, name))
    except ProviderNotConfigured as exc:
        if _no_provider_at_all(config):
            wanted = prefix if prefix in PROVIDER_NAMES else "anthropic"
            return [
                error(
                    "no_provider",
                    untrusted(str(exc)),
                    f"Set {wanted.upper()}_API_KEY=<key> in .env, with "
                    f'providers.{wanted}.api_key: "${{{wanted.upper()}_API_KEY}}" in config.yml',
                )
            ]
        return [
            error(
                "model_provider_unconfigured",
                untrusted(str(exc)),
                "Configure that provider (credentials in .env, referenced as ${VAR}), "
                "or set agents.defaults.model to a model of a configured provider",
            )
        ]
    except ProviderConfigError as exc:
        return [
            error(
                "provider_invalid",
                untrusted(str(exc)),
                "Give the provider's api_base as a plain http(s) URL; credentials belong "
                "in api_key (in .env, referenced as ${VAR})",
            )
        ]
    except ValueError as exc:  # select_provider: empty model, or a provider with no model
        return [
            error(
                "model_invalid",
                untrusted(str(exc)),
                "Set agents.defaults.model to <provider>/<model>, e.g. anthropic/claude-sonnet-4-5",
            )
        ]
    findings = [info("provider_model", f"LLM: provider '{name}', model {quoted(bare)}")]
    if prefix != name:
        findings.append(
            warning(
                "model_provider_implicit",
                f"Model {quoted(model)} does not start with a provider name: the gateway "
                f"sends it to '{name}', the first configured provider",
                f"Write agents.defaults.model as '{name}/<model>' to make the choice explicit",
            )
        )
    return findings


def gateway_findings(config: Config) -> list[Finding]:
    """The HTTP gateway should listen on loopback only."""
    host = config.gateway.host
    if is_loopback_host(host):
        return []
    return [
        warning(
            "gateway_exposed",
            f"Gateway is bound to {quoted(host)}, reachable from other machines "
            "(health, metrics and webhooks exposed)",
            "Set gateway.host: 127.0.0.1 and put a TLS reverse proxy in front "
            "if outside access is needed",
        )
    ]


def telegram_findings(telegram: TelegramConfig) -> list[Finding]:
    """Allowlist, token, allow-list entries that can never match, webhook settings."""
    findings = allowlist_findings("telegram", telegram.allow_from)
    findings += missing_findings("telegram", [("token", telegram.token)])
    try:
        AccessPolicy.from_settings(
            "telegram",
            allow_from=telegram.allow_from,
            dm_policy=telegram.dm_policy,
            group_policy=telegram.group_policy,
            group_allow_from=telegram.group_allow_from,
        )
    except AccessConfigError as exc:
        findings.append(
            error(
                "channel_allow_from_invalid",
                f"Telegram access lists have entries that can never match:\n{untrusted(str(exc))}",
                "Use numeric user ids or usernames (@alice) in allow_from, numeric chat ids "
                "in group_allow_from",
            )
        )
    if telegram.mode is TelegramMode.WEBHOOK and not telegram.webhook_url:
        findings.append(
            error(
                "telegram_webhook_url_missing",
                "channels.telegram.mode is webhook but channels.telegram.webhook_url is not set",
                "Set webhook_url to the public https URL your reverse proxy forwards to "
                "webhook_path, or use mode: polling",
            )
        )
    return findings


def channel_findings(config: Config) -> list[Finding]:
    """Allowlist and credential problems of each enabled channel."""
    channels = config.channels
    findings: list[Finding] = []
    if channels.telegram.enabled:
        findings += telegram_findings(channels.telegram)
    if channels.slack.enabled:
        findings += slack_findings(channels.slack)
    if channels.whatsapp.enabled:
        whatsapp = channels.whatsapp
        findings += allowlist_findings("whatsapp", whatsapp.allow_from)
    if channels.zulip.enabled:
        findings += zulip_findings(channels.zulip)
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
                + ", ".join(quoted(entry) for entry in tools.web.ssrf_allowlist),
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
