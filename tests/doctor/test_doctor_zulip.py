"""The doctor on Zulip settings: what would stop or weaken the channel, before it runs."""

from __future__ import annotations

import attrs
import pytest

from autobot.config.schema import ZulipConfig
from autobot.config.secret import Secret
from autobot.doctor.findings import Severity
from autobot.doctor.zulip_checks import zulip_findings

KEY = Secret("a" * 32)
GOOD = ZulipConfig(
    enabled=True,
    site="https://example.zulipchat.com",
    email="autobot-bot@example.zulipchat.com",
    api_key=KEY,
    allow_from=("8", "12"),
    streams=("general",),
)


def codes(zulip: ZulipConfig) -> list[str]:
    return [finding.code for finding in zulip_findings(zulip)]


def test_a_good_zulip_config_has_no_finding() -> None:
    assert codes(GOOD) == []
    assert codes(attrs.evolve(GOOD, site="https://example.zulipchat.com/")) == []
    assert codes(attrs.evolve(GOOD, site="http://127.0.0.1:9991")) == []  # a local server


def test_allow_from_empty_or_open_to_all() -> None:
    assert codes(attrs.evolve(GOOD, allow_from=())) == ["channel_allow_from_empty"]
    assert codes(attrs.evolve(GOOD, allow_from=("*",))) == ["channel_open_to_all"]


def test_missing_settings_are_named() -> None:
    findings = zulip_findings(attrs.evolve(GOOD, site="", email=None, api_key=None))
    [missing] = findings
    assert missing.code == "channel_token_missing" and missing.severity is Severity.WARNING
    assert "channels.zulip.site, channels.zulip.email, channels.zulip.api_key" in missing.message


def test_plain_http_to_another_machine_is_an_error() -> None:
    [finding] = zulip_findings(attrs.evolve(GOOD, site="http://zulip.example.com"))
    assert finding.code == "zulip_site_insecure" and finding.severity is Severity.ERROR
    assert "API key would cross the network readable" in finding.message


@pytest.mark.parametrize(
    "site",
    ["https://example.com/zulip", "ftp://example.com", "example.com", "https://example.com/?a=1"],
)
def test_a_site_that_is_no_server_root_is_an_error(site: str) -> None:
    [finding] = zulip_findings(attrs.evolve(GOOD, site=site))
    assert finding.code == "zulip_site_invalid" and finding.severity is Severity.ERROR


def test_a_password_in_the_site_url_is_refused_and_not_repeated() -> None:
    [finding] = zulip_findings(attrs.evolve(GOOD, site="https://bot:hunter2hunter2@example.com"))
    assert finding.code == "zulip_site_invalid"
    assert "hunter2hunter2" not in finding.message


def test_unusable_email_or_key_are_errors_and_the_key_is_never_shown() -> None:
    assert codes(attrs.evolve(GOOD, email="autobot")) == ["zulip_email_invalid"]
    findings = zulip_findings(attrs.evolve(GOOD, api_key=Secret("has a space in it")))
    assert [f.code for f in findings] == ["zulip_api_key_invalid"]
    assert "has a space" not in findings[0].message + (findings[0].fix or "")


def test_allow_from_entries_that_can_never_match_are_errors() -> None:
    [finding] = zulip_findings(attrs.evolve(GOOD, allow_from=("8", "@alice", "-3")))
    assert finding.code == "channel_allow_from_invalid" and finding.severity is Severity.ERROR
    assert "'@alice' is neither a Zulip user id" in finding.message
    assert "'-3' is neither a Zulip user id" in finding.message


def test_email_entries_get_a_note_about_email_visibility() -> None:
    [finding] = zulip_findings(attrs.evolve(GOOD, allow_from=("alice@example.com",)))
    assert finding.code == "zulip_allow_from_emails" and finding.severity is Severity.INFO


def test_stream_names_no_stream_can_have_are_warned() -> None:
    [finding] = zulip_findings(attrs.evolve(GOOD, streams=("general", " ", "x" * 61)))
    assert finding.code == "zulip_streams_invalid" and finding.severity is Severity.WARNING
