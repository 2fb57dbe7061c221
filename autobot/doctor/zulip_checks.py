"""Doctor checks of `channels.zulip` (pure: no I/O, no clock).

The same judgements the channel makes when it starts
(`channels.zulip.settings`: the site, email and key checks the client
applies, the access policy), so what would stop the channel is reported
before the gateway runs:

- an empty `allow_from` (everyone denied) or `"*"` (anyone): warnings, as for
  every channel (`config_checks._allowlist`);
- `site`, `email` or `api_key` not set: a warning (`config_checks._missing`);
- a `site` that is plain http to another machine (the API key would travel
  readable): an error; one that is not a server's root URL: an error;
- an email or API key that cannot be used for Basic auth: an error;
- `allow_from` entries that can never match (neither a user id nor an
  email): an error;
- `streams` entries that can never match (blank, or longer than Zulip's 60
  characters): a warning;
- `allow_from` naming people by email: an INFO line, since Zulip shows the
  bot real addresses only when the organization's email visibility lets it
  (user ids always match).
"""

from __future__ import annotations

from autobot.channels.access import AccessConfigError
from autobot.channels.zulip.settings import (
    access_policy,
    api_key_problem,
    email_problem,
    site_problem,
)
from autobot.config.schema import ZulipConfig
from autobot.doctor.channel_common import allowlist_findings, missing_findings
from autobot.doctor.findings import Finding, error, info, quoted, untrusted, warning

MAX_STREAM_NAME = 60  # Zulip's longest stream name


def zulip_findings(zulip: ZulipConfig) -> list[Finding]:
    """Every finding about an enabled `channels.zulip` (see the module docstring)."""
    findings = allowlist_findings("zulip", zulip.allow_from)
    findings += missing_findings(
        "zulip", [("site", zulip.site), ("email", zulip.email), ("api_key", zulip.api_key)]
    )
    findings += _site(zulip.site)
    findings += _credentials(zulip)
    findings += _access(zulip)
    findings += _streams(zulip.streams)
    return findings


def _site(site: str | None) -> list[Finding]:
    problem = site_problem(site) if site else None
    if problem is None:
        return []
    if problem.insecure:
        return [
            error(
                "zulip_site_insecure",
                f"channels.zulip.site {quoted(site)} is plain http to another machine: the "
                "bot's API key would cross the network readable",
                "Use the server's https:// URL (http only for a server on this machine)",
            )
        ]
    return [
        error(
            "zulip_site_invalid",
            untrusted(problem.message),
            "Set channels.zulip.site to the server's root URL, e.g. https://example.zulipchat.com",
        )
    ]


def _credentials(zulip: ZulipConfig) -> list[Finding]:
    findings = []
    problem = email_problem(zulip.email) if zulip.email else None
    if problem is not None:
        findings.append(
            error(
                "zulip_email_invalid",
                untrusted(problem),
                "Copy the bot's email from its zuliprc (Settings > Personal settings > Bots)",
            )
        )
    key_problem = api_key_problem(zulip.api_key.reveal()) if zulip.api_key else None
    if key_problem is not None:
        findings.append(
            error(
                "zulip_api_key_invalid",
                key_problem,
                "Copy the bot's API key from its zuliprc into ZULIP_API_KEY in .env",
            )
        )
    return findings


def _access(zulip: ZulipConfig) -> list[Finding]:
    try:
        policy = access_policy(zulip)
    except AccessConfigError as exc:
        return [
            error(
                "channel_allow_from_invalid",
                f"Zulip allow_from has entries that can never match:\n{untrusted(str(exc))}",
                "Use numeric user ids (8) or email addresses (alice@example.com) in allow_from",
            )
        ]
    if not policy.allow.emails:
        return []
    return [
        info(
            "zulip_allow_from_emails",
            "channels.zulip.allow_from names senders by email: Zulip shows the bot real "
            "addresses only when the organization's email visibility lets it",
            "If an allowed sender is denied, list their user id instead (the denial names it)",
        )
    ]


def _streams(streams: tuple[str, ...]) -> list[Finding]:
    bad = [name for name in streams if not name.strip() or len(name.strip()) > MAX_STREAM_NAME]
    if not bad:
        return []
    return [
        warning(
            "zulip_streams_invalid",
            "channels.zulip.streams has names no stream can have: "
            + ", ".join(quoted(name) for name in bad),
            f"Give each stream's name as Zulip shows it (1 to {MAX_STREAM_NAME} characters)",
        )
    ]
