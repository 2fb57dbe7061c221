"""`run_checks`: load a bot's configuration and run every doctor check on it.

This is the thin shell around the pure checks: it loads `config.yml` and
inspects the bot's files in a worker thread, asks the injected sandbox
prober, and collects the findings into a `Report`. A configuration that
fails to load is reported as an error finding listing every problem (no
traceback); the checks that do not need it (plaintext secrets in the raw
text, `.env` permissions) still run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs
import trio

from autobot.config.environment import ENV_FILE_NAME, read_env_file
from autobot.config.errors import ConfigError
from autobot.config.load import LoadedConfig, load_config
from autobot.config.schema import Config
from autobot.doctor.bot_files import inspect_bot_files
from autobot.doctor.config_checks import config_findings
from autobot.doctor.file_checks import bot_file_findings
from autobot.doctor.findings import Finding, Report, error, warning
from autobot.doctor.plaintext import plaintext_secret_findings
from autobot.doctor.sandbox_check import SandboxProber, probe_sandbox_findings
from autobot.logs.redact import Redactor


@attrs.frozen(kw_only=True)
class _LoadFailure:
    findings: tuple[Finding, ...]
    raw_text: str | None  # what could be read of config.yml, for the secret scan


def _load(config_path: Path, environ: Mapping[str, str]) -> LoadedConfig | _LoadFailure:
    """Load the config, turning every way it can fail into findings (blocking I/O)."""
    if not config_path.is_file():
        return _LoadFailure(
            findings=(
                error(
                    "config_missing",
                    f"Config file not found: {config_path}",
                    "Create a bot with `autobot new NAME`, or point --config at its config.yml",
                ),
            ),
            raw_text=None,
        )
    try:
        return load_config(config_path, environ)
    except ConfigError as exc:
        problems = "\n".join(problem.render() for problem in exc.problems)
        count = len(exc.problems)
        finding = error(
            "config_invalid",
            f"{config_path.name} cannot be loaded ({count} problem"
            f"{'' if count == 1 else 's'}):\n{problems}",
            f"Fix the listed keys in {config_path}",
        )
    try:
        raw_text: str | None = config_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        raw_text = None
    return _LoadFailure(findings=(finding,), raw_text=raw_text)


RUNNING_AS_ROOT = warning(
    "running_as_root",
    "autobot is running as root: a compromised gateway owns the machine, and the "
    "sandbox cannot enforce its process limit (the kernel exempts root from RLIMIT_NPROC)",
    "Run autobot as a dedicated unprivileged user (see the systemd unit in README.md)",
)


@attrs.frozen(kw_only=True)
class BotCheck:
    """The result of `check_bot`: findings, the config if it loaded, and the
    secret values known for this bot (to redact from every finding)."""

    findings: tuple[Finding, ...]
    config: Config | None
    secrets: frozenset[str] = attrs.field(repr=False)


def _known_secrets(env_file: Path) -> frozenset[str]:
    try:
        return frozenset(value for value in read_env_file(env_file).values() if value)
    except (OSError, UnicodeDecodeError):
        return frozenset()


def check_bot(config_path: Path, *, environ: Mapping[str, str], home: Path) -> BotCheck:
    """Every finding that needs no sandbox probe, plus the config if it loaded.

    Blocking (reads and stats files): call it through `trio.to_thread`.
    """
    config_path = Path(os.path.abspath(config_path))
    loaded = _load(config_path, environ)
    findings: list[Finding] = []
    config: Config | None = None
    if isinstance(loaded, _LoadFailure):
        findings += loaded.findings
        env_file = config_path.parent / ENV_FILE_NAME
        secrets = _known_secrets(env_file)
        if loaded.raw_text is None:
            return BotCheck(findings=tuple(findings), config=None, secrets=secrets)
        raw_text, workspace = loaded.raw_text, None
    else:
        config, raw_text, secrets = loaded.config, loaded.raw_text, loaded.secret_values
        env_file, workspace = loaded.env_file, loaded.workspace
    findings += plaintext_secret_findings(raw_text, config_path.name)
    files = inspect_bot_files(
        config_file=config_path, env_file=env_file, workspace=workspace, home=home
    )
    findings += bot_file_findings(files)
    if config is not None:
        findings += config_findings(config)
    return BotCheck(findings=tuple(findings), config=config, secrets=secrets)


def redact_findings(findings: Iterable[Finding], secrets: Iterable[str]) -> tuple[Finding, ...]:
    """Defence in depth: no finding may carry a known secret value or a secret
    shape, whatever text (a config error, a URL, a probe's stderr) it quotes."""
    redactor = Redactor(known_secrets=secrets)
    return tuple(
        attrs.evolve(
            finding,
            message=redactor.redact(finding.message),
            fix=None if finding.fix is None else redactor.redact(finding.fix),
        )
        for finding in findings
    )


async def run_checks(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    probe: SandboxProber,
    home: Path,
    as_root: bool = False,
) -> Report:
    """Every doctor finding for the bot whose configuration is `config_path`.

    `environ` is the process environment (`${VAR}` references resolve from it
    over `.env`); `probe` answers whether a sandbox backend really works;
    `home` is the operator's home directory (a workspace must not expose it);
    `as_root` says the gateway would run as root (the CLI passes euid == 0).
    Raises nothing for a broken bot: problems are findings, and no finding
    contains a secret.
    """
    # one limiter per run: the doctor's blocking file work is a single call
    fs_limiter = trio.CapacityLimiter(1)
    checked = await trio.to_thread.run_sync(
        lambda: check_bot(config_path, environ=environ, home=home), limiter=fs_limiter
    )
    findings = list(checked.findings)
    if as_root:
        findings.append(RUNNING_AS_ROOT)
    if checked.config is not None:
        findings += await probe_sandbox_findings(checked.config.tools.sandbox, probe)
    return Report(redact_findings(findings, checked.secrets))
