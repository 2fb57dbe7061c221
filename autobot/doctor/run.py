"""`run_checks`: load a bot's configuration and run every doctor check on it.

This is the thin shell around the pure checks: it loads `config.yml` and
inspects the bot's files in a worker thread, asks the injected sandbox
prober, and collects the findings into a `Report`. A configuration that
fails to load is reported as an error finding listing every problem (no
traceback); the checks that do not need it still run: plaintext secrets in
the raw text, the `.env` file's permissions, parse errors and short values,
and the workspace checks (on the workspace the file names if its YAML can
be read, else on the default `./workspace`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs
import trio

from autobot.channels.pairing_store import PairingStore, PairingStoreError
from autobot.config.environment import ENV_FILE_NAME, EnvFile, parse_env_file
from autobot.config.errors import ConfigError
from autobot.config.load import LoadedConfig, load_config, read_config_bytes
from autobot.config.schema import AgentDefaults, Config, ToolsConfig
from autobot.config.yaml_text import YamlSyntaxError, parse_yaml
from autobot.doctor.bot_files import inspect_bot_files
from autobot.doctor.config_checks import config_findings
from autobot.doctor.env_checks import malformed_env_findings, short_secret_findings
from autobot.doctor.file_checks import bot_file_findings
from autobot.doctor.findings import Finding, Report, error, info, untrusted, warning
from autobot.doctor.plaintext import plaintext_secret_findings
from autobot.doctor.sandbox_check import SandboxProber, probe_sandbox_findings
from autobot.doctor.sandbox_env_checks import sandbox_env_findings
from autobot.doctor.whatsapp_checks import whatsapp_findings
from autobot.logs.redact import Redactor
from autobot.security.regular_file import FileRefused


@attrs.frozen(kw_only=True)
class _LoadFailure:
    findings: tuple[Finding, ...]
    raw_text: str | None  # what could be read of config.yml, for the secret scan


def _load(config_path: Path, environ: Mapping[str, str]) -> LoadedConfig | _LoadFailure:
    """Load the config, turning every way it can fail into findings (blocking I/O).

    A path that exists but is no regular file (a FIFO, a device, a directory),
    is too large or too deeply nested is `config_invalid`, in the loader's one
    line; only a path with nothing at all there is `config_missing`.
    """
    if not os.path.lexists(config_path):
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
        finding = _invalid_config(config_path, exc)
    try:
        raw = read_config_bytes(config_path)
    except ConfigError:  # already the finding: nothing safe to scan
        return _LoadFailure(findings=(finding,), raw_text=None)
    return _LoadFailure(findings=(finding,), raw_text=raw.decode("utf-8", errors="replace"))


def _invalid_config(config_path: Path, exc: ConfigError) -> Finding:
    """The `config_invalid` finding: one line for a single problem, else one
    line per problem. The key path is the doctor's own wording; only the part
    that may quote a value is shape-redacted (`providers.x.api_key: must
    be...` stays readable)."""
    problems = [attrs.evolve(p, message=untrusted(p.message)).render() for p in exc.problems]
    keyed = any(problem.path for problem in exc.problems)
    fix = f"Fix the listed keys in {config_path}" if keyed else f"Fix {config_path}"
    if len(problems) == 1:
        return error("config_invalid", f"{config_path.name} cannot be loaded: {problems[0]}", fix)
    listed = "\n".join(problems)
    return error(
        "config_invalid",
        f"{config_path.name} cannot be loaded ({len(problems)} problems):\n{listed}",
        fix,
    )


def running_as_root(tools: ToolsConfig | None) -> Finding:
    """What running as root still means once the sandbox drops to its identity."""
    account = "65534:65534" if tools is None else f"{tools.sandbox_uid}:{tools.sandbox_gid}"
    return warning(
        "running_as_root",
        "autobot is running as root: sandboxed commands run as the unprivileged "
        f"{account} in a user namespace of their own (never as host root; the start-up "
        "probe refuses a sandbox that cannot drop to it), but the gateway process itself "
        "is root, so a bug in autobot's own code is root's bug, and the workspace is "
        f"handed to {account} at start",
        "Run autobot as a dedicated unprivileged user (see the systemd unit in README.md); "
        "if it must be root, set tools.sandbox_uid/sandbox_gid to an account used by nothing else",
    )


def pairing_findings(bot_dir: Path) -> list[Finding]:
    """How many senders `autobot pairing approve` let in, per channel (INFO);
    a pairing store that cannot be read is a WARNING (the gateway then admits
    only `allow_from`)."""
    try:
        with PairingStore(bot_dir) as store:
            book = store.current()
    except (PairingStoreError, OSError) as exc:
        return [
            warning(
                "pairing_store_unreadable",
                f"The pairing store cannot be read: {untrusted(str(exc))}",
                "Check pairing.json in the bot directory (autobot pairing list shows it)",
            )
        ]
    counts: dict[str, int] = {}
    for approval in book.approved:
        counts[approval.channel] = counts.get(approval.channel, 0) + 1
    if not counts:
        return []
    listed = ", ".join(f"{channel}: {count}" for channel, count in sorted(counts.items()))
    return [info("pairing_approved", f"Senders approved by pairing: {listed}")]


@attrs.frozen(kw_only=True)
class BotCheck:
    """The result of `check_bot`: findings, the config if it loaded, and the
    secret values known for this bot (to redact from every finding)."""

    findings: tuple[Finding, ...]
    config: Config | None
    secrets: frozenset[str] = attrs.field(repr=False)


def _parse_dotenv(env_file: Path) -> EnvFile:
    """The bot's `.env`, or an empty one if it cannot be read (the config load
    reports that as a problem of its own, the file checks a non-regular file)."""
    try:
        return parse_env_file(env_file)
    except (OSError, UnicodeDecodeError, FileRefused):
        return EnvFile(values={})


def fallback_workspace(raw_text: str, bot_dir: Path) -> Path:
    """The workspace of a config that failed to load: `agents.defaults.workspace`
    when the YAML still gives it as a plain string (no `${VAR}`), else the
    schema's default, resolved from `bot_dir` as `load_config` does."""
    value = AgentDefaults().workspace
    try:
        tree = parse_yaml(raw_text)
    except YamlSyntaxError:
        tree = None
    node: object = tree
    for key in ("agents", "defaults", "workspace"):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, str) and node.strip() and "${" not in node:
        value = node
    return (bot_dir / value).resolve()


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
        dotenv = _parse_dotenv(env_file)
        secrets = frozenset(value for value in dotenv.values.values() if value)
        if loaded.raw_text is None:
            return BotCheck(findings=tuple(findings), config=None, secrets=secrets)
        raw_text = loaded.raw_text
        workspace = fallback_workspace(raw_text, config_path.parent.resolve())
    else:
        config, raw_text, secrets = loaded.config, loaded.raw_text, loaded.secret_values
        env_file, workspace = loaded.env_file, loaded.workspace
        dotenv = _parse_dotenv(env_file)
    findings += plaintext_secret_findings(raw_text, config_path.name)
    files = inspect_bot_files(
        config_file=config_path, env_file=env_file, workspace=workspace, home=home
    )
    findings += bot_file_findings(files)
    findings += malformed_env_findings(files.env.path, dotenv)
    findings += short_secret_findings(dotenv.values, config)
    if not isinstance(loaded, _LoadFailure):
        findings += config_findings(loaded.config)
        findings += sandbox_env_findings(
            loaded.config.tools.sandbox_env,
            secret_variables=loaded.secret_variables,
            secret_values=loaded.secret_values,
            environ=environ,
        )
    return BotCheck(findings=tuple(findings), config=config, secrets=secrets)


def redact_findings(findings: Iterable[Finding], secrets: Iterable[str]) -> tuple[Finding, ...]:
    """Defence in depth: every known secret value (from `.env` and the config)
    is removed from every finding, wherever it appears.

    Only the exact values: secret *shapes* were already redacted where a check
    quotes outside text (`findings.quoted`, `findings.untrusted`), and running
    the shape patterns over the doctor's own wording would garble it.
    """
    redactor = Redactor(known_secrets=secrets)
    return tuple(
        attrs.evolve(
            finding,
            message=redactor.redact_known(finding.message),
            fix=None if finding.fix is None else redactor.redact_known(finding.fix),
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
        findings.append(running_as_root(None if checked.config is None else checked.config.tools))
    if checked.config is not None:
        findings += await probe_sandbox_findings(checked.config.tools, probe)
        findings += await trio.to_thread.run_sync(
            pairing_findings, config_path.parent, limiter=fs_limiter
        )
        whatsapp = checked.config.channels.whatsapp
        if whatsapp.enabled:
            findings += await trio.to_thread.run_sync(
                functools.partial(whatsapp_findings, whatsapp, config_path.parent),
                limiter=fs_limiter,
            )
    return Report(redact_findings(findings, checked.secrets))
