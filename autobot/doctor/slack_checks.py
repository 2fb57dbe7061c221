"""The doctor on Slack settings (pure: no I/O, no clock).

`slack_findings(slack)` judges an enabled Slack channel as its launcher will:

- `allow_from` empty or `"*"`: the warnings every channel gets
  (`channel_common.allowlist_findings`);
- a token missing: the warning every channel gets (`missing_findings`);
- a token of the wrong kind, naming the key and never the token: the bot
  token must be a bot token (`xoxb-`; an app-level `xapp-` or a user `xoxp-`
  token there is an error), the app token an app-level token (`xapp-`; an
  `xoxb-`/`xoxp-` there is an error); a malformed one is an error too;
- access-list entries that can never match (`AccessPolicy.from_settings`,
  the channel's own parser), and entries not shaped like Slack ids (user ids
  `U…`/`W…` in `allow_from`, channel ids `C…`/`G…`/`D…` in
  `group_allow_from`, upper-case letters and digits): errors;
- `group_policy: open`: a warning (every message in an allowed channel
  reaches the model; the security checklist prefers `mention`);
- an `api_base` the client refuses (http off loopback, user info...): an error.
"""

from __future__ import annotations

import re

from autobot.channels.access import ANYONE, AccessConfigError, AccessPolicy
from autobot.channels.pairing import is_valid_id
from autobot.channels.slack.tokens import APP_TOKEN_PREFIX, BOT_TOKEN_PREFIX, check_token
from autobot.channels.slack.urls import check_api_base
from autobot.config.schema import GroupPolicy, SlackConfig
from autobot.config.secret import Secret
from autobot.doctor.channel_common import allowlist_findings, missing_findings
from autobot.doctor.findings import Finding, error, quoted, untrusted, warning

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,31}")
_TOKEN_KINDS = {
    "xoxb-": "a bot token (xoxb-)",
    "xapp-": "an app-level token (xapp-)",
    "xoxp-": "a user token (xoxp-)",
    "xoxa-": "a workspace token (xoxa-)",
}


def slack_findings(slack: SlackConfig) -> list[Finding]:
    """Every finding about `channels.slack` (see the module docstring)."""
    findings = allowlist_findings("slack", slack.allow_from)
    findings += missing_findings(
        "slack", [("bot_token", slack.bot_token), ("app_token", slack.app_token)]
    )
    findings += _token("bot_token", slack.bot_token, BOT_TOKEN_PREFIX, "SLACK_BOT_TOKEN")
    findings += _token("app_token", slack.app_token, APP_TOKEN_PREFIX, "SLACK_APP_TOKEN")
    findings += _access_lists(slack)
    if slack.group_policy is GroupPolicy.OPEN:
        findings.append(
            warning(
                "slack_group_policy_open",
                "channels.slack.group_policy is open: every message in an allowed channel "
                "reaches the model, not only those that mention the bot",
                "Set channels.slack.group_policy: mention (or allowlist, naming each channel)",
            )
        )
    try:
        check_api_base(slack.api_base)
    except ValueError as exc:
        findings.append(
            error(
                "slack_api_base_invalid",
                f"channels.slack.{untrusted(str(exc))}",
                "Use https://slack.com/api (http only for a server on this machine)",
            )
        )
    return findings


def _token(key: str, token: Secret | None, prefix: str, variable: str) -> list[Finding]:
    """An error when `token` is set but not of the kind `key` needs; its value
    never appears, only its kind."""
    if token is None or not token.reveal():
        return []
    try:
        check_token(token, prefix, f"channels.slack.{key}")
    except ValueError:
        value = token.reveal()
        kind = next((name for start, name in _TOKEN_KINDS.items() if value.startswith(start)), None)
        wanted = _TOKEN_KINDS[prefix]
        what = f"holds {kind}" if kind is not None else "is not a Slack token"
        if kind is not None and value.startswith(prefix):
            what = f"holds a malformed {kind.removeprefix('a ').removeprefix('an ')}"
        return [
            error(
                "slack_token_kind",
                f"channels.slack.{key} {what}; it needs {wanted}",
                f"Put {wanted} in {variable} in .env (bot token: OAuth & Permissions; "
                "app-level token: Basic Information > App-Level Tokens, connections:write)",
            )
        ]
    return []


def _access_lists(slack: SlackConfig) -> list[Finding]:
    problems: list[str] = []
    try:
        AccessPolicy.from_settings(
            "slack",
            allow_from=slack.allow_from,
            dm_policy=slack.dm_policy,
            group_policy=slack.group_policy,
            group_allow_from=slack.group_allow_from,
        )
    except AccessConfigError as exc:
        problems.append(str(exc))
    for name, entries, shape, what in (
        ("allow_from", slack.allow_from, _USER_ID, "a Slack user id (U0123ABCD)"),
        ("group_allow_from", slack.group_allow_from, _CHANNEL_ID, "a Slack channel id (C0123ABCD)"),
    ):
        for entry in entries:
            cleaned = entry.strip()
            # `from_settings` already named the empty, "*", @-prefixed and unprintable ones
            if not cleaned or cleaned == ANYONE or cleaned.startswith("@"):
                continue
            if shape.fullmatch(cleaned) or not is_valid_id(cleaned):
                continue
            problems.append(
                f"channels.slack.{name}: {quoted(cleaned)} is not {what}: it can never match"
            )
    if not problems:
        return []
    return [
        error(
            "channel_allow_from_invalid",
            "Slack access lists have entries that can never match:\n"
            + untrusted("\n".join(problems)),
            "Use member ids (Profile > ⋮ > Copy member ID) in allow_from and channel ids "
            "(channel details, at the bottom) in group_allow_from",
        )
    ]
