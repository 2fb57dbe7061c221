"""`autobot doctor` on the WhatsApp channel: the bridge connection, its secret, Node, the install.

Two parts, like the rest of the doctor:

- `whatsapp_config_findings(whatsapp, bot_dir)` judges the settings alone
  (pure): the bridge address by the channel's own rule
  (`channels.whatsapp.endpoint.bridge_endpoint`: an external bridge needs a
  URL, plain `ws://` only to loopback, no `wss://` for a managed bridge, a
  socket path that fits), and `allow_from` / `group_allow_from` entries that
  can never match (`jids.whatsapp_policy`);
- `gather_whatsapp_facts(whatsapp, bot_dir, node_version=...)` looks at the
  machine (blocking: run it in a thread): the secret file, checked exactly as
  the gateway checks it (`bridge_secret.load_bridge_secret`), and for a
  managed bridge the configured Node's version (`node --version`, >= 20),
  npm, and whether the bridge's npm dependencies are installed in the bot
  directory; `whatsapp_fact_findings` turns those facts into findings (pure).

`whatsapp_findings` is both, in report order: what `autobot.doctor.run`
calls for an enabled channel. No finding ever contains the secret.
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from shlex import quote

import attrs

from autobot.channels.access import AccessConfigError
from autobot.channels.whatsapp.bridge_install import (
    BridgeInstallError,
    installed_bridge_dir,
    is_installed,
    npm_command,
    shipped_bridge_dir,
)
from autobot.channels.whatsapp.bridge_secret import BridgeSecretError, load_bridge_secret
from autobot.channels.whatsapp.endpoint import EndpointError, bridge_endpoint
from autobot.channels.whatsapp.jids import whatsapp_policy
from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.doctor.findings import Finding, error, info, quoted, untrusted, warning

NODE_MIN_MAJOR = 20
NODE_TIMEOUT_SECONDS = 10.0
_NODE_VERSION = re.compile(r"v(\d+)\.(\d+)\.(\d+)")
_NODE_FIX = (
    "Install Node.js 20 or newer (e.g. apt install nodejs, or nodejs.org), or point "
    "channels.whatsapp.node at it"
)


def whatsapp_config_findings(whatsapp: WhatsAppConfig, bot_dir: Path) -> list[Finding]:
    """The bridge address and the access lists, judged as the channel judges them."""
    findings: list[Finding] = []
    try:
        bridge_endpoint(whatsapp, bot_dir)
    except EndpointError as exc:
        findings.append(error(exc.code, untrusted(str(exc)), exc.fix))
    try:
        whatsapp_policy(whatsapp)
    except AccessConfigError as exc:
        findings.append(
            error(
                "channel_allow_from_invalid",
                f"WhatsApp access lists have entries that can never match:\n{untrusted(str(exc))}",
                "Use phone numbers in international format (+15551234567) or JIDs "
                "(15551234567@s.whatsapp.net) in allow_from, group JIDs (...@g.us) in "
                "group_allow_from",
            )
        )
    return findings


class SecretState(enum.Enum):
    """What the bridge secret file is."""

    USABLE = "usable"
    MISSING = "missing"
    LOOSE = "loose"  # readable or writable by group or others
    REFUSED = "refused"  # a symlink, not a regular file, another owner, malformed


@attrs.frozen(kw_only=True)
class NodeProbe:
    """What `node --version` said: the version, or why there is none."""

    version: str | None = None
    problem: str | None = None


@attrs.frozen(kw_only=True)
class WhatsAppFacts:
    """What the machine says about the channel (see `gather_whatsapp_facts`).

    `secret_detail` is the gateway's own reason for a refused or loose file;
    `node`, `npm_found` and `installed` are None for an external bridge
    (nothing of it runs here); `install_problem` says why the shipped bridge
    cannot be installed at all; `ca_file_missing`: `bridge_ca_file` is set
    but names no file.
    """

    secret_path: Path
    secret: SecretState
    secret_mode: int | None = None
    secret_detail: str = ""
    node: NodeProbe | None = None
    npm_found: bool | None = None
    installed: bool | None = None
    install_dir: Path | None = None
    install_problem: str | None = None
    ca_file_missing: bool = False


def node_version(node: str) -> NodeProbe:
    """Run `node --version` (blocking, bounded, a minimal environment)."""
    environment = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    try:
        done = subprocess.run(
            [node, "--version"],
            capture_output=True,
            timeout=NODE_TIMEOUT_SECONDS,
            env=environment,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        return NodeProbe(problem="not found")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return NodeProbe(problem=f"cannot run: {exc}")
    text = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        return NodeProbe(problem=f"`--version` failed (exit {done.returncode})")
    return NodeProbe(version=text[:40])


def _secret(path: Path) -> tuple[SecretState, int | None, str]:
    try:
        info_ = os.lstat(path)
    except FileNotFoundError:
        return SecretState.MISSING, None, ""
    mode = stat.S_IMODE(info_.st_mode)
    if stat.S_ISREG(info_.st_mode) and mode & 0o077:
        return SecretState.LOOSE, mode, ""
    try:
        load_bridge_secret(path, create=False)
    except BridgeSecretError as exc:
        return SecretState.REFUSED, mode, str(exc)
    except OSError as exc:
        return SecretState.REFUSED, mode, f"the WhatsApp bridge secret file {path}: {exc}"
    return SecretState.USABLE, mode, ""


def gather_whatsapp_facts(
    whatsapp: WhatsAppConfig,
    bot_dir: Path,
    *,
    probe_node: Callable[[str], NodeProbe] = node_version,
) -> WhatsAppFacts:
    """The facts `whatsapp_fact_findings` judges (blocking: files, `node --version`)."""
    managed = whatsapp.bridge is BridgeMode.MANAGED
    path = bot_dir / whatsapp.bridge_secret_file
    state, mode, detail = _secret(path)
    facts = WhatsAppFacts(secret_path=path, secret=state, secret_mode=mode, secret_detail=detail)
    if not managed:
        ca_file = whatsapp.bridge_ca_file
        ca_missing = ca_file is not None and not (bot_dir / ca_file).is_file()
        return attrs.evolve(facts, ca_file_missing=ca_missing)
    package, target = shipped_bridge_dir(), installed_bridge_dir(bot_dir)
    try:
        installed, problem = is_installed(package, target), None
    except BridgeInstallError as exc:
        installed, problem = False, str(exc)
    npm = npm_command(whatsapp.node)
    return attrs.evolve(
        facts,
        node=probe_node(whatsapp.node),
        npm_found=shutil.which(npm) is not None,
        installed=installed,
        install_dir=target,
        install_problem=problem,
    )


def _secret_findings(whatsapp: WhatsAppConfig, facts: WhatsAppFacts) -> list[Finding]:
    path = facts.secret_path
    if facts.secret is SecretState.MISSING:
        if whatsapp.bridge is BridgeMode.MANAGED:
            return [
                info(
                    "whatsapp_secret_generated",
                    f"The WhatsApp bridge secret {path} will be generated (0600) at the "
                    "gateway's first start",
                )
            ]
        return [
            error(
                "whatsapp_secret_missing",
                f"The WhatsApp bridge secret file {path} does not exist: the channel cannot "
                "authenticate to the external bridge",
                f"Put the bridge's secret (64 hex characters) there: (umask 077; openssl rand "
                f"-hex 32 > {quote(str(path))}), and give the bridge the same file",
            )
        ]
    if facts.secret is SecretState.LOOSE:
        return [
            error(
                "whatsapp_secret_permissions",
                f"The WhatsApp bridge secret file {path} is readable or writable by other "
                f"users (mode {facts.secret_mode or 0:04o}): the gateway and the bridge refuse it, "
                "and anyone who read it can impersonate either side",
                f"chmod 600 {quote(str(path))}, then replace the secret (delete the file: a "
                "managed bridge generates a new one)",
            )
        ]
    if facts.secret is SecretState.REFUSED:
        return [
            error(
                "whatsapp_secret_refused",
                untrusted(facts.secret_detail),
                f"Replace {path} with a regular file of mode 0600 holding 64 hex characters",
            )
        ]
    return []


def _node_findings(whatsapp: WhatsAppConfig, probe: NodeProbe) -> list[Finding]:
    node = quoted(whatsapp.node)
    if probe.version is None:
        return [
            error(
                "whatsapp_node_missing",
                f"Node.js {node} {probe.problem or 'is unusable'}: the managed WhatsApp "
                "bridge cannot run",
                _NODE_FIX,
            )
        ]
    match = _NODE_VERSION.fullmatch(probe.version)
    if match is None or int(match.group(1)) < NODE_MIN_MAJOR:
        return [
            error(
                "whatsapp_node_too_old",
                f"Node.js {node} is {quoted(probe.version)}: the WhatsApp bridge needs "
                f"version {NODE_MIN_MAJOR} or newer",
                _NODE_FIX,
            )
        ]
    return [info("whatsapp_node", f"WhatsApp bridge: Node.js {untrusted(probe.version)}")]


def _install_findings(whatsapp: WhatsAppConfig, facts: WhatsAppFacts) -> list[Finding]:
    if facts.install_problem is not None:
        return [
            error(
                "whatsapp_bridge_missing",
                untrusted(facts.install_problem),
                "Reinstall autobot: the package ships the bridge in autobot/whatsapp_bridge/",
            )
        ]
    if facts.installed:
        return []
    findings = [
        warning(
            "whatsapp_bridge_not_installed",
            f"The WhatsApp bridge's npm dependencies are not installed in {facts.install_dir} "
            "yet: the gateway runs `npm ci --ignore-scripts --no-audit --no-fund` there at its "
            "next start, which needs the npm registry",
            "Start the gateway once where it can reach the npm registry",
        )
    ]
    if not facts.npm_found:
        findings.append(
            error(
                "whatsapp_npm_missing",
                f"npm ({quoted(npm_command(whatsapp.node))}) is not installed: the WhatsApp "
                "bridge's dependencies cannot be installed",
                "Install npm (it comes with Node.js; on Debian: apt install npm)",
            )
        )
    return findings


def whatsapp_fact_findings(whatsapp: WhatsAppConfig, facts: WhatsAppFacts) -> list[Finding]:
    """The secret file, and for a managed bridge Node, npm and the install (pure)."""
    findings = _secret_findings(whatsapp, facts)
    if facts.ca_file_missing:
        findings.append(
            error(
                "whatsapp_ca_file_missing",
                f"channels.whatsapp.bridge_ca_file {quoted(whatsapp.bridge_ca_file)} is not a "
                "file: the channel cannot verify the bridge's certificate",
                "Point bridge_ca_file at the CA certificate (PEM) that signed the bridge's "
                "certificate, relative to the bot directory, or remove it to use the system CAs",
            )
        )
    if facts.node is not None:
        findings += _node_findings(whatsapp, facts.node)
        findings += _install_findings(whatsapp, facts)
    return findings


def whatsapp_findings(
    whatsapp: WhatsAppConfig,
    bot_dir: Path,
    *,
    probe_node: Callable[[str], NodeProbe] = node_version,
) -> list[Finding]:
    """Every WhatsApp finding of an enabled channel (blocking: run it in a
    thread). `bot_dir` is the bot directory (relative paths of the settings
    start there); `probe_node` runs `node --version`."""
    facts = gather_whatsapp_facts(whatsapp, bot_dir, probe_node=probe_node)
    return whatsapp_config_findings(whatsapp, bot_dir) + whatsapp_fact_findings(whatsapp, facts)
