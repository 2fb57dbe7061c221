"""Checks on the secrets themselves: `.env` lines that do not parse, and secrets
too short to be redacted from logs by value (pure).

Findings name the `.env` variable, line number or config key; never a value
and never the text of a line (a malformed line may hold a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from autobot.config.environment import EnvFile
from autobot.config.schema import Config
from autobot.config.secret import Secret
from autobot.doctor.findings import Finding, warning
from autobot.doctor.plaintext import ConfigPath, secret_field_paths
from autobot.logs.redact import MIN_KNOWN_SECRET_LENGTH


def malformed_env_findings(env_path: Path, env: EnvFile) -> list[Finding]:
    """One warning per `.env` statement python-dotenv cannot parse (it is ignored)."""
    return [
        warning(
            "env_malformed_line",
            f".env line {line} cannot be parsed and is ignored (any variable on it stays "
            f"unset): {env_path}",
            "Write it as NAME=value (quote a value with spaces: NAME='a b'); "
            "comment lines start with #",
        )
        for line in env.malformed_lines
    ]


def _is_short(value: str) -> bool:
    return 0 < len(value) < MIN_KNOWN_SECRET_LENGTH


def _secret_at(config: Config, path: ConfigPath) -> Secret | None:
    node: object = config
    for name in path:
        node = getattr(node, name)
    return node if isinstance(node, Secret) else None


def short_secret_findings(dotenv: Mapping[str, str], config: Config | None) -> list[Finding]:
    """A warning per `.env` variable, and per config credential not taken from one,
    whose value is shorter than `MIN_KNOWN_SECRET_LENGTH`: the log redactor does
    not replace such values wherever they appear (it would shred the logs), so
    only their context (`password=`, `Authorization:`) protects them."""
    findings = [
        warning(
            "short_secret",
            f".env variable {name} is shorter than {MIN_KNOWN_SECRET_LENGTH} characters: "
            "logs cannot redact it by its value, and a credential that short is weak",
            f"Use the full credential for {name}; if it is not a secret, move the "
            "setting out of .env into config.yml",
        )
        for name, value in dotenv.items()
        if _is_short(value)
    ]
    if config is None:
        return findings
    reported = {value for value in dotenv.values() if _is_short(value)}
    for path in secret_field_paths():
        secret = _secret_at(config, path)
        if secret is None or not _is_short(secret.reveal()) or secret.reveal() in reported:
            continue
        dotted = ".".join(path)
        findings.append(
            warning(
                "short_secret",
                f"{dotted} is shorter than {MIN_KNOWN_SECRET_LENGTH} characters: logs "
                "cannot redact it by its value, and a credential that short is weak",
                f"Use the full credential for {dotted}",
            )
        )
    return findings
