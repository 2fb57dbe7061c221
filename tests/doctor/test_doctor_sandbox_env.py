"""`tools.sandbox_env` forwarding a secret into every command is a doctor
ERROR naming the variable, never its value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from autobot.doctor.findings import Report, Severity
from autobot.doctor.render import render_json, render_text
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_env_checks import (
    conventional_credential_variables,
    sandbox_env_findings,
)

from .botdir import ANTHROPIC_KEY, CLEAN_ENV, make_bot, probe_ok

OTHER_SECRET = "zulip-secret-value-0123456789"


async def _report(
    tmp_path: Path,
    forwarded: list[str],
    *,
    environ: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
    env: str = CLEAN_ENV,
) -> Report:
    tools = {"tools": {"sandbox_env": forwarded}}
    made = make_bot(tmp_path / "bot", {**tools, **(config or {})}, env=env)
    return await run_checks(made.config, environ=environ or {}, probe=probe_ok, home=tmp_path)


def _secret_findings(report: Report) -> list[str]:
    return [f.message for f in report.errors if f.code == "sandbox_env_secret"]


def _assert_no_value(report: Report, *values: str) -> None:
    text = render_text(report) + render_json(report, strict=True)
    for value in values:
        assert value not in text


async def test_the_provider_key_from_dotenv_is_an_error_naming_it(tmp_path: Path) -> None:
    report = await _report(tmp_path, ["LANG", "ANTHROPIC_API_KEY"])
    (message,) = _secret_findings(report)
    assert message.startswith(
        "tools.sandbox_env forwards ANTHROPIC_API_KEY into every command the model runs"
    )
    assert "one of this bot's secrets" in message
    assert "conventional variable" in message
    assert report.codes(Severity.ERROR) == ["sandbox_env_secret"]
    assert report.exit_code(strict=False) == 1
    _assert_no_value(report, ANTHROPIC_KEY)


async def test_any_dotenv_variable_is_a_secret(tmp_path: Path) -> None:
    env = CLEAN_ENV + f"DATABASE_URL=postgres://bot:{OTHER_SECRET}@db/bot\n"
    report = await _report(tmp_path, ["DATABASE_URL"], env=env)
    (message,) = _secret_findings(report)
    assert "forwards DATABASE_URL" in message
    _assert_no_value(report, OTHER_SECRET)


async def test_a_credential_reference_from_the_process_environment(tmp_path: Path) -> None:
    config = {"channels": {"zulip": {"api_key": "${MY_ZULIP}"}}}
    report = await _report(
        tmp_path, ["MY_ZULIP"], environ={"MY_ZULIP": OTHER_SECRET}, config=config
    )
    (message,) = _secret_findings(report)
    assert "forwards MY_ZULIP" in message and "one of this bot's secrets" in message
    _assert_no_value(report, OTHER_SECRET)


async def test_a_loaded_secret_under_another_name_is_found_by_value(tmp_path: Path) -> None:
    environ = {"INNOCENT": f"prefix-{ANTHROPIC_KEY}-suffix", "LANG": "C.UTF-8"}
    report = await _report(tmp_path, ["INNOCENT", "LANG"], environ=environ)
    (message,) = _secret_findings(report)
    assert "forwards INNOCENT" in message
    assert "its value in the environment contains a secret this bot loaded" in message
    _assert_no_value(report, ANTHROPIC_KEY)


@pytest.mark.parametrize("name", ["TELEGRAM_BOT_TOKEN", "OPENAI_API_KEY", "BRAVE_API_KEY"])
async def test_conventional_credential_names_are_errors_even_when_unused(
    tmp_path: Path, name: str
) -> None:
    report = await _report(tmp_path, [name])
    (message,) = _secret_findings(report)
    assert f"forwards {name}" in message and "conventional variable" in message


async def test_harmless_variables_pass_and_credential_looking_ones_warn(tmp_path: Path) -> None:
    environ = {"LANG": "C.UTF-8", "TZ": "UTC", "GITHUB_TOKEN": "ghp_unrelated_to_this_bot_0123"}
    report = await _report(tmp_path, ["LANG", "TZ", "GITHUB_TOKEN"], environ=environ)
    assert report.errors == ()
    assert report.codes(Severity.WARNING) == ["sandbox_env_credential_name"]
    assert "forwards GITHUB_TOKEN, whose name says it is a credential" in report.warnings[0].message


async def test_without_sandbox_env_there_is_no_finding(tmp_path: Path) -> None:
    report = await _report(tmp_path, [])
    assert not [f for f in report.findings if f.code.startswith("sandbox_env")]


def test_each_name_is_reported_once_in_order() -> None:
    findings = sandbox_env_findings(
        ["B_KEY", "A_KEY", "B_KEY", "PATH"],
        secret_variables=frozenset({"A_KEY", "B_KEY"}),
        secret_values=(),
        environ={"PATH": "/usr/bin"},
    )
    assert [f.message.split()[2] for f in findings] == ["B_KEY", "A_KEY"]


def test_a_value_too_short_to_redact_is_not_matched_anywhere() -> None:
    # the redactor ignores values under 6 characters (doctor warns about them
    # separately); "abc" inside an unrelated value is no evidence
    findings = sandbox_env_findings(
        ["LANG"], secret_variables=frozenset(), secret_values=("abc",), environ={"LANG": "abcdef"}
    )
    assert findings == []


def test_the_conventional_names_cover_every_provider_and_channel() -> None:
    names = conventional_credential_variables()
    assert {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"} <= names
    assert {"ZULIP_API_KEY", "BRAVE_API_KEY"} <= names


async def test_json_output_names_the_variable(tmp_path: Path) -> None:
    report = await _report(tmp_path, ["ANTHROPIC_API_KEY"])
    document = json.loads(render_json(report, strict=False))
    (entry,) = [e for e in document["errors"] if e["code"] == "sandbox_env_secret"]
    assert "ANTHROPIC_API_KEY" in entry["message"]
    assert entry["fix"].startswith("Remove ANTHROPIC_API_KEY from tools.sandbox_env")
