"""One broken bot directory per scenario: each error and each warning alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from autobot.doctor.findings import Report, Severity
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_check import SandboxProber

from .botdir import (
    CLEAN_ENV,
    Bot,
    make_bot,
    probe_missing,
    probe_must_not_run,
    probe_ok,
)

SLACK_OK = {"enabled": True, "bot_token": "${SLACK_BOT}", "app_token": "${SLACK_APP}"}
SLACK_ENV = CLEAN_ENV + "SLACK_BOT=xoxb-test-bot-token\nSLACK_APP=xapp-test-app-token\n"


@attrs.frozen
class Scenario:
    id: str
    build: Callable[[Path], Bot]
    errors: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)
    probe: SandboxProber = probe_ok


def bot(config: dict | None = None, **kwargs: object) -> Callable[[Path], Bot]:
    return lambda root: make_bot(root / "bot", config, **kwargs)  # type: ignore[arg-type]


def nested_dotenv(root: Path) -> Bot:
    made = make_bot(root / "bot")
    (made.workspace / "project" / "deploy").mkdir(parents=True)
    (made.workspace / "project" / "deploy" / ".env.production").write_text("X=1\n")
    return made


def source_files_named_env(root: Path) -> Bot:
    made = make_bot(root / "bot")
    (made.workspace / "migrations").mkdir(parents=True)
    for name in ("env.py", "env.h", "env.sh", "environment.yml", "environment.md"):
        (made.workspace / "migrations" / name).write_text("# not a dotenv file\n")
    return made


def symlink_into_workspace_env(root: Path) -> Bot:
    made = make_bot(root / "bot")
    (made.workspace / "creds").symlink_to(made.env)  # innocent name, leads to .env
    return made


def workspace_symlink_to_bot_dir(root: Path) -> Bot:
    made = make_bot(root / "bot", {"agents": {"defaults": {"workspace": "./ws-link"}}})
    (made.root / "ws-link").symlink_to(made.root)
    return made


def env_symlink_into_workspace(root: Path) -> Bot:
    made = make_bot(root / "bot", env=None)
    real = made.workspace / "secrets.env"
    real.write_text(CLEAN_ENV)
    os.chmod(real, 0o600)
    made.env.symlink_to(real)
    return made


def env_symlink_outside_ok(root: Path) -> Bot:
    made = make_bot(root / "bot", env=None)
    vault = root / "vault"
    vault.mkdir()
    (vault / "bot.env").write_text(CLEAN_ENV)
    os.chmod(vault / "bot.env", 0o600)
    made.env.symlink_to(vault / "bot.env")
    return made


def workspace_boundary_trap(root: Path) -> Bot:
    # bot dir /srv/ws2 holds .env; workspace /srv/ws is a string prefix of it, not a parent
    made = make_bot(root / "srv" / "ws2", {"agents": {"defaults": {"workspace": "../ws"}}})
    (root / "srv" / "ws").mkdir()
    return made


def workspace_home(root: Path) -> Bot:
    return make_bot(root / "bot", {"agents": {"defaults": {"workspace": str(root / "h" / "me")}}})


def workspace_above_home(root: Path) -> Bot:
    return make_bot(root / "bot", {"agents": {"defaults": {"workspace": str(root / "h")}}})


SCENARIOS = [
    Scenario("clean", bot()),
    # ---- errors
    Scenario(
        "sandbox auto, nothing available",
        bot(),
        errors=["sandbox_unavailable"],
        probe=probe_missing,
    ),
    Scenario(
        "sandbox bubblewrap explicitly, missing",
        bot({"tools": {"sandbox": "bubblewrap"}}),
        errors=["sandbox_unavailable"],
        probe=probe_missing,
    ),
    Scenario(
        "sandbox docker explicitly, missing",
        bot({"tools": {"sandbox": "docker"}}),
        errors=["sandbox_unavailable"],
        probe=probe_missing,
    ),
    Scenario(
        "plaintext anthropic key",
        bot({"providers": {"anthropic": {"api_key": "sk-ant-api03-" + "x" * 40}}}),
        errors=["plaintext_secret"],
    ),
    Scenario(
        "plaintext literal of unknown shape in a secret field",
        bot({"tools": {"web": {"search": {"api_key": "hunter2hunter2"}}}}),
        errors=["plaintext_secret"],
    ),
    Scenario(".env mode 0644", bot(env_mode=0o644), errors=["env_permissions"]),
    Scenario(".env mode 0640", bot(env_mode=0o640), errors=["env_permissions"]),
    Scenario(
        ".env in workspace (workspace is the bot dir)",
        bot({"agents": {"defaults": {"workspace": "."}}}),
        errors=["env_in_workspace"],
    ),
    Scenario(
        "workspace symlinked to the bot dir",
        workspace_symlink_to_bot_dir,
        errors=["env_in_workspace"],
    ),
    Scenario(
        ".env symlinked into the workspace", env_symlink_into_workspace, errors=["env_in_workspace"]
    ),
    Scenario("dotenv file nested in the workspace", nested_dotenv, errors=["dotenv_in_workspace"]),
    Scenario("env.py, env.h, environment.md are not dotenv files", source_files_named_env),
    Scenario(
        "innocently named symlink to .env in the workspace",
        symlink_into_workspace_env,
        errors=["dotenv_in_workspace"],
    ),
    Scenario("no provider key", bot(env="ANTHROPIC_API_KEY=\n"), errors=["no_provider"]),
    Scenario("no .env and no key", bot(env=None), errors=["no_provider"], warnings=["env_missing"]),
    Scenario(
        "model of an unconfigured provider",
        bot({"agents": {"defaults": {"model": "openai/gpt-4.1"}}}),
        errors=["model_provider_unconfigured"],
    ),
    Scenario(
        "model without provider prefix",
        bot({"agents": {"defaults": {"model": "claude-sonnet-4-5"}}}),
        warnings=["model_provider_implicit"],
    ),
    Scenario(
        "config does not load",
        bot({"tools": {"sandbox": "bwrap"}, "gatway": {}}),
        errors=["config_invalid"],
        probe=probe_must_not_run,
    ),
    # ---- warnings
    Scenario(
        "gateway on 0.0.0.0", bot({"gateway": {"host": "0.0.0.0"}}), warnings=["gateway_exposed"]
    ),
    Scenario("gateway on ::", bot({"gateway": {"host": "::"}}), warnings=["gateway_exposed"]),
    Scenario(
        "gateway on a LAN address",
        bot({"gateway": {"host": "192.168.1.20"}}),
        warnings=["gateway_exposed"],
    ),
    Scenario(
        "gateway on a host name",
        bot({"gateway": {"host": "bot.example.com"}}),
        warnings=["gateway_exposed"],
    ),
    Scenario(
        "telegram with empty allow_from",
        bot(
            {"channels": {"telegram": {"enabled": True, "token": "${TG}"}}},
            env=CLEAN_ENV + "TG=123456:abc\n",
        ),
        warnings=["channel_allow_from_empty"],
    ),
    Scenario(
        "telegram open to everyone",
        bot(
            {"channels": {"telegram": {"enabled": True, "token": "${TG}", "allow_from": ["*"]}}},
            env=CLEAN_ENV + "TG=123456:abc\n",
        ),
        warnings=["channel_open_to_all"],
    ),
    Scenario(
        "telegram without token",
        bot({"channels": {"telegram": {"enabled": True, "token": "${TG}", "allow_from": ["42"]}}}),
        warnings=["channel_token_missing"],
    ),
    Scenario(
        "slack without app_token",
        bot(
            {
                "channels": {
                    "slack": {**SLACK_OK, "app_token": "${NOPE}", "allow_from": ["U0123ABCD"]}
                }
            },
            env=SLACK_ENV,
        ),
        warnings=["channel_token_missing"],
    ),
    Scenario(
        "slack configured",
        bot({"channels": {"slack": {**SLACK_OK, "allow_from": ["U0123ABCD"]}}}, env=SLACK_ENV),
    ),
    Scenario(
        "zulip without email",
        bot(
            {
                "channels": {
                    "zulip": {
                        "enabled": True,
                        "site": "https://z.example.com",
                        "api_key": "${ZK}",
                        "allow_from": ["a@b.c"],
                    }
                }
            },
            env=CLEAN_ENV + "ZK=zulip-key-value\n",
        ),
        warnings=["channel_token_missing"],
    ),
    Scenario(
        "whatsapp external bridge without a URL",
        bot(
            {
                "channels": {
                    "whatsapp": {
                        "enabled": True,
                        "allow_from": ["+4917012345678"],
                        "bridge": "external",
                    }
                }
            }
        ),
        errors=["whatsapp_bridge_url_missing", "whatsapp_secret_missing"],
    ),
    Scenario(
        "whatsapp bridge on the LAN",
        bot(
            {
                "channels": {
                    "whatsapp": {
                        "enabled": True,
                        "allow_from": ["+4917012345678"],
                        "bridge": "external",
                        "bridge_url": "ws://10.0.0.5:3001",
                    }
                }
            },
        ),
        errors=["whatsapp_bridge_exposed", "whatsapp_secret_missing"],
    ),
    Scenario(
        "missing .env with the key in the environment", bot(env=None), warnings=["env_missing"]
    ),
    Scenario(
        "sandbox none",
        bot({"tools": {"sandbox": "none"}}),
        warnings=["sandbox_disabled"],
        probe=probe_must_not_run,
    ),
    Scenario("workspace is home", workspace_home, warnings=["workspace_is_home"]),
    Scenario("workspace above home", workspace_above_home, warnings=["workspace_is_home"]),
    Scenario(
        "workspace missing",
        bot({"agents": {"defaults": {"workspace": "./nowhere"}}}),
        warnings=["workspace_missing"],
    ),
    Scenario(
        "exec network on",
        bot({"tools": {"exec": {"network": True}}}),
        warnings=["exec_network_enabled"],
    ),
    Scenario(
        "ssrf allowlist set",
        bot({"tools": {"web": {"ssrf_allowlist": ["10.0.0.0/8"]}}}),
        warnings=["ssrf_allowlist_set"],
    ),
    Scenario(
        "config.yml readable by others", bot(config_mode=0o644), warnings=["config_permissions"]
    ),
    # ---- traps that must stay clean
    Scenario("workspace /srv/ws does not contain /srv/ws2/.env", workspace_boundary_trap),
    Scenario(".env symlinked to a 0600 file outside the workspace", env_symlink_outside_ok),
]

# The scenario whose key must come from the process environment.
ENVIRON = {"missing .env with the key in the environment": {"ANTHROPIC_API_KEY": "from-env-1"}}


async def check(tmp_path: Path, scenario: Scenario) -> Report:
    home = tmp_path / "h" / "me"
    home.mkdir(parents=True, exist_ok=True)
    made = scenario.build(tmp_path)
    return await run_checks(
        made.config, environ=ENVIRON.get(scenario.id, {}), probe=scenario.probe, home=home
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
async def test_scenario_reports_exactly_its_findings(tmp_path: Path, scenario: Scenario) -> None:
    report = await check(tmp_path, scenario)
    assert report.codes(Severity.ERROR) == scenario.errors
    assert report.codes(Severity.WARNING) == scenario.warnings
    assert report.exit_code(strict=False) == (1 if scenario.errors else 0)
    assert report.exit_code(strict=True) == (1 if scenario.errors or scenario.warnings else 0)


async def test_clean_bot_info_lines(tmp_path: Path) -> None:
    report = await check(tmp_path, SCENARIOS[0])
    assert report.codes(Severity.INFO) == [
        "provider_model",
        "web_search_unconfigured",
        "sandbox_backend",
    ]
    messages = [f.message for f in report.info]
    assert "LLM: provider 'anthropic', model 'claude-sonnet-4-5'" in messages
    assert "Sandbox backend: bubblewrap (fake probe: works)" in messages


async def test_env_permission_fix_is_exact_chmod(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot", env_mode=0o644)
    report = await run_checks(made.config, environ={}, probe=probe_ok, home=tmp_path)
    (finding,) = report.errors
    assert finding.fix == f"chmod 600 {made.env}"
    assert made.env.is_absolute()
    assert "0644" in finding.message


async def test_config_invalid_lists_every_problem_and_still_checks_files(tmp_path: Path) -> None:
    made = make_bot(
        tmp_path / "bot",
        {"tools": {"sandbox": "bwrap"}, "gatway": {}},
        env_mode=0o644,
    )
    report = await run_checks(made.config, environ={}, probe=probe_must_not_run, home=tmp_path)
    assert report.codes(Severity.ERROR) == ["config_invalid", "env_permissions"]
    message = report.errors[0].message
    assert "tools.sandbox" in message
    assert "gatway" in message
    assert "Traceback" not in message


async def test_missing_config_is_one_error(tmp_path: Path) -> None:
    report = await run_checks(
        tmp_path / "nope" / "config.yml", environ={}, probe=probe_must_not_run, home=tmp_path
    )
    assert report.codes(Severity.ERROR) == ["config_missing"]
    assert report.findings == report.errors


async def test_plaintext_secret_in_broken_config_still_found(tmp_path: Path) -> None:
    raw = "providers:\n  anthropic:\n    api_key: sk-ant-api03-" + "q" * 40 + "\nbogus: [\n"
    made = make_bot(tmp_path / "bot", raw_config=raw)
    report = await run_checks(made.config, environ={}, probe=probe_must_not_run, home=tmp_path)
    assert report.codes(Severity.ERROR) == ["config_invalid", "plaintext_secret"]
    assert "line 3" in report.errors[1].message
    assert "Anthropic" in report.errors[1].message
