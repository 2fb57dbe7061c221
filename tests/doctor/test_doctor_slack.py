"""The doctor on Slack settings: tokens of the wrong kind (named by key, never
shown), entries that can never match, an open group policy, the shared
allow_from and credential warnings."""

from __future__ import annotations

import attrs
import pytest

from autobot.config.schema import GroupPolicy, SlackConfig
from autobot.config.secret import Secret
from autobot.doctor.findings import Severity
from autobot.doctor.slack_checks import slack_findings

BOT = "xoxb-1111111111-2222222222-AbCdEfGhIjKlMnOpQrStUvWx"
APP = "xapp-1-A0123ABCD-3333333333-0123456789abcdef0123456789abcdef"
USER = "xoxp-1111111111-2222222222-3333333333-0123456789abcdef"
GOOD = SlackConfig(
    enabled=True,
    bot_token=Secret(BOT),
    app_token=Secret(APP),
    allow_from=("U0123ABCD", "W0456EFGH"),
    group_allow_from=("C0123ABCD", "G0456EFGH"),
)


def codes(slack: SlackConfig) -> list[str]:
    return [finding.code for finding in slack_findings(slack)]


def test_a_good_slack_config_has_no_finding() -> None:
    assert slack_findings(GOOD) == []


@pytest.mark.parametrize(
    ("bot", "app", "key", "said"),
    [
        (APP, APP, "bot_token", "holds an app-level token (xapp-); it needs a bot token (xoxb-)"),
        (USER, APP, "bot_token", "holds a user token (xoxp-); it needs a bot token (xoxb-)"),
        (BOT, BOT, "app_token", "holds a bot token (xoxb-); it needs an app-level token (xapp-)"),
        (BOT, USER, "app_token", "holds a user token (xoxp-); it needs an app-level token"),
        ("hunter2-not-a-token", APP, "bot_token", "is not a Slack token"),
        ("xoxb-short", APP, "bot_token", "holds a malformed bot token (xoxb-)"),
    ],
)
def test_a_token_of_the_wrong_kind_is_an_error_naming_the_key(
    bot: str, app: str, key: str, said: str
) -> None:
    findings = slack_findings(attrs.evolve(GOOD, bot_token=Secret(bot), app_token=Secret(app)))
    [finding] = findings
    assert finding.severity is Severity.ERROR and finding.code == "slack_token_kind"
    assert finding.message.startswith(f"channels.slack.{key} ") and said in finding.message
    shown = finding.message + (finding.fix or "")
    for token in (bot, app):
        assert token not in shown and token[5:] not in shown


def test_missing_tokens_and_open_allow_lists_warn_like_every_channel() -> None:
    slack = SlackConfig(enabled=True, allow_from=())
    assert codes(slack) == ["channel_allow_from_empty", "channel_token_missing"]
    [missing] = [f for f in slack_findings(slack) if f.code == "channel_token_missing"]
    assert "channels.slack.bot_token, channels.slack.app_token" in missing.message
    assert codes(attrs.evolve(GOOD, allow_from=("*",))) == ["channel_open_to_all"]


@pytest.mark.parametrize(
    ("allow_from", "group_allow_from", "named"),
    [
        (("@alice",), (), "'@alice' looks like a username"),
        (("alice",), (), "'alice' is not a Slack user id (U0123ABCD): it can never match"),
        (("u0123abcd",), (), "'u0123abcd' is not a Slack user id"),
        (("C0123ABCD",), (), "'C0123ABCD' is not a Slack user id"),  # a channel in allow_from
        (("U1 U2",), (), "contains spaces"),
        (("U0123ABCD",), ("#general",), "'#general' is not a Slack channel id"),
        (("U0123ABCD",), ("U0123ABCD",), "'U0123ABCD' is not a Slack channel id"),
    ],
)
def test_entries_that_can_never_match_are_errors(
    allow_from: tuple[str, ...], group_allow_from: tuple[str, ...], named: str
) -> None:
    slack = attrs.evolve(GOOD, allow_from=allow_from, group_allow_from=group_allow_from)
    [finding] = [f for f in slack_findings(slack) if f.severity is Severity.ERROR]
    assert finding.code == "channel_allow_from_invalid" and named in finding.message


def test_star_in_group_allow_from_under_allowlist_is_an_error() -> None:
    slack = attrs.evolve(GOOD, group_policy=GroupPolicy.ALLOWLIST, group_allow_from=("*",))
    [finding] = slack_findings(slack)
    assert finding.code == "channel_allow_from_invalid" and "name each group" in finding.message


def test_an_open_group_policy_is_a_warning() -> None:
    [finding] = slack_findings(attrs.evolve(GOOD, group_policy=GroupPolicy.OPEN))
    assert finding.severity is Severity.WARNING and finding.code == "slack_group_policy_open"
    assert slack_findings(attrs.evolve(GOOD, group_policy=GroupPolicy.ALLOWLIST)) == []
    assert slack_findings(attrs.evolve(GOOD, group_policy=GroupPolicy.DISABLED)) == []


@pytest.mark.parametrize(
    "api_base", ["http://slack.example.com/api", "https://user:pw@slack.com/api", "slack.com"]
)
def test_an_api_base_the_client_refuses_is_an_error(api_base: str) -> None:
    [finding] = slack_findings(attrs.evolve(GOOD, api_base=api_base))
    assert finding.code == "slack_api_base_invalid" and finding.severity is Severity.ERROR
    assert "pw" not in finding.message
    assert slack_findings(attrs.evolve(GOOD, api_base="http://127.0.0.1:8080/api")) == []
