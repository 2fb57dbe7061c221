"""Doctor's wording, short secrets, malformed .env lines, checks on a broken
config, shell-quoted fixes: each finding readable, none with a secret in it."""

from __future__ import annotations

import io
import os
import shlex
from pathlib import Path

import pytest

from autobot.doctor.findings import Report, Severity
from autobot.doctor.main import doctor
from autobot.doctor.run import run_checks

from .botdir import CLEAN_ENV, make_bot, probe_ok


async def _check(config: Path, tmp_path: Path, environ: dict[str, str] | None = None) -> Report:
    return await run_checks(config, environ=environ or {}, probe=probe_ok, home=tmp_path / "h")


async def _printed(config: Path, tmp_path: Path, environ: dict[str, str] | None = None) -> str:
    texts = []
    for as_json in (False, True):
        out = io.StringIO()
        await doctor(
            config,
            strict=False,
            as_json=as_json,
            environ=environ or {},
            out=out,
            home=tmp_path / "h",
            probe=probe_ok,
        )
        texts.append(out.getvalue())
    return "\n".join(texts)


# ---- the doctor's own wording is not pattern-redacted -------------------------


async def test_key_paths_in_config_errors_read_as_written(tmp_path: Path) -> None:
    raw = "providers:\n  anthropic:\n    api_key: 12345\nchannels:\n  slack:\n    bot_token: 7\n"
    made = make_bot(tmp_path / "bot", raw_config=raw)
    report = await _check(made.config, tmp_path)
    message = report.errors[0].message
    assert report.errors[0].code == "config_invalid"
    assert "providers.anthropic.api_key: must be a string" in message
    assert "channels.slack.bot_token: must be a string" in message
    assert "[REDACTED]" not in message


async def test_quoted_values_are_still_redacted_by_shape_and_by_known_value(
    tmp_path: Path,
) -> None:
    shaped = "sk-ant-api03-" + "S" * 30
    known = "correct-horse-battery"
    made = make_bot(
        tmp_path / "bot",
        raw_config=f"tools:\n  sandbox: {shaped}\nlogging:\n  level: {known}\n",
        env=CLEAN_ENV + f"ODD={known}\n",
    )
    printed = await _printed(made.config, tmp_path)
    assert "tools.sandbox: must be one of" in printed
    assert "logging.level: must be one of" in printed
    assert shaped not in printed and "S" * 20 not in printed
    assert known not in printed


async def test_article_before_the_family_name(tmp_path: Path) -> None:
    raw = "providers:\n  anthropic:\n    api_key: sk-ant-api03-" + "x" * 40 + "\n"
    made = make_bot(tmp_path / "bot", raw_config=raw)
    report = await _check(made.config, tmp_path)
    (plaintext,) = [f for f in report.errors if f.code == "plaintext_secret"]
    assert "looks like an Anthropic API key" in plaintext.message


# ---- short secrets ----------------------------------------------------------


async def test_short_secrets_are_warned_about_by_name_never_by_value(tmp_path: Path) -> None:
    made = make_bot(
        tmp_path / "bot",
        {
            "providers": {"anthropic": {"api_key": "${ANTHROPIC_API_KEY}"}},
            "tools": {"web": {"search": {"api_key": "${BRAVE_KEY}"}}},
            "channels": {
                "telegram": {"enabled": True, "token": "${TG}", "allow_from": ["42"]},
            },
        },
        env="ANTHROPIC_API_KEY=q7Zx\nTG=123456:abcdefghijklmnopqrstuvwxyz0123\n",
    )
    report = await _check(made.config, tmp_path, environ={"BRAVE_KEY": "k9Wv"})
    shorts = [f.message for f in report.warnings if f.code == "short_secret"]
    assert len(shorts) == 2
    assert shorts[0].startswith(".env variable ANTHROPIC_API_KEY is shorter than 6 characters")
    # from the process environment: named by its config key (no .env variable holds it)
    assert shorts[1].startswith("tools.web.search.api_key is shorter than 6 characters")
    printed = await _printed(made.config, tmp_path, environ={"BRAVE_KEY": "k9Wv"})
    assert "q7Zx" not in printed and "k9Wv" not in printed


async def test_a_long_enough_secret_is_not_warned_about(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot", env="ANTHROPIC_API_KEY=abcdef\n")
    report = await _check(made.config, tmp_path)
    assert "short_secret" not in report.codes(Severity.WARNING)


async def test_short_secrets_are_reported_even_when_the_config_does_not_load(
    tmp_path: Path,
) -> None:
    made = make_bot(tmp_path / "bot", {"gatway": {}}, env="ANTHROPIC_API_KEY=q7Zx\n")
    report = await _check(made.config, tmp_path)
    assert report.codes(Severity.ERROR) == ["config_invalid"]
    assert report.codes(Severity.WARNING) == ["short_secret"]


# ---- malformed .env lines ----------------------------------------------------


async def test_a_malformed_env_line_is_a_warning_with_its_number_and_nothing_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    secret_line = "this line holds sk-ant-api03-" + "M" * 30
    made = make_bot(tmp_path / "bot", env=CLEAN_ENV + "# ok\n" + secret_line + "\nB=fine-value\n")
    printed = await _printed(made.config, tmp_path)
    report = await _check(made.config, tmp_path)
    (malformed,) = [f for f in report.warnings if f.code == "env_malformed_line"]
    assert malformed.message.startswith(".env line 3 cannot be parsed and is ignored")
    assert str(made.env) in malformed.message
    assert "M" * 20 not in printed  # the line's text is never quoted
    assert capfd.readouterr().err == ""  # no stray python-dotenv warning


# ---- checks that run although the config does not load ------------------------


async def test_env_in_the_workspace_is_found_when_the_config_does_not_load(
    tmp_path: Path,
) -> None:
    # the workspace (the bot dir itself) is still readable from the broken file
    made = make_bot(tmp_path / "bot", {"agents": {"defaults": {"workspace": "."}}, "gatway": {}})
    report = await _check(made.config, tmp_path)
    assert report.codes(Severity.ERROR) == ["config_invalid", "env_in_workspace"]


async def test_the_default_workspace_is_checked_when_the_yaml_is_unreadable(
    tmp_path: Path,
) -> None:
    made = make_bot(tmp_path / "bot", raw_config="agents: [unclosed\n")
    (made.workspace / ".env.local").write_text("X=1\n")
    report = await _check(made.config, tmp_path)
    assert report.codes(Severity.ERROR) == ["config_invalid", "dotenv_in_workspace"]


# ---- fixes that paste into a shell -------------------------------------------


async def test_fix_commands_are_shell_quoted(tmp_path: Path) -> None:
    made = make_bot(
        tmp_path / "sp ace's bot",
        {"agents": {"defaults": {"workspace": "./work space"}}},
        env_mode=0o644,
        config_mode=0o644,
    )
    os.rmdir(made.workspace)
    report = await _check(made.config, tmp_path)
    fixes = {f.code: f.fix or "" for f in report.findings}
    # each fix, split the way a shell splits it, gives the exact paths back
    assert shlex.split(fixes["env_permissions"]) == ["chmod", "600", str(made.env)]
    assert shlex.split(fixes["config_permissions"]) == ["chmod", "600", str(made.config)]
    assert shlex.split(fixes["workspace_missing"]) == [
        "mkdir",
        "-m",
        "700",
        str(made.root / "work space"),
    ]
