"""Checks on the facts `inspect_bot_files` gathered (pure).

Every command in a fix (`chmod 600 PATH`) has its path shell-quoted, so it can
be pasted as it is, whatever the path contains.
"""

from __future__ import annotations

from shlex import quote

from autobot.doctor.bot_files import BotFiles, FileKind, FileState, WorkspaceFacts
from autobot.doctor.findings import Finding, error, warning
from autobot.store.atomic import PRIVATE_FILE_MODE


def env_findings(env: FileState) -> list[Finding]:
    """`.env` missing (warning), not a regular file or not exactly 0600 (errors)."""
    if env.kind is FileKind.MISSING:
        return [
            warning(
                "env_missing",
                f".env file not found at {env.path}: secrets must then come from the "
                "process environment",
                f"Create it with: install -m 600 /dev/null {quote(str(env.path))}",
            )
        ]
    if env.kind is FileKind.OTHER or env.mode is None:
        return [
            error(
                "env_not_file",
                f".env at {env.path} is not a regular file (directory, device or dangling symlink)",
                f"Replace {env.path} with a regular file of mode 0600",
            )
        ]
    if env.mode != PRIVATE_FILE_MODE:
        return [
            error(
                "env_permissions",
                f".env file has insecure permissions {env.mode:04o} (must be 0600): {env.path}",
                f"chmod 600 {quote(str(env.path))}",
            )
        ]
    return []


def config_file_findings(config: FileState) -> list[Finding]:
    """`config.yml` readable by group or others (warning)."""
    if config.mode is None or not config.mode & 0o077:
        return []
    return [
        warning(
            "config_permissions",
            f"{config.path.name} is readable by other users (mode {config.mode:04o})",
            f"chmod 600 {quote(str(config.path))}",
        )
    ]


def workspace_findings(workspace: WorkspaceFacts, env_path: str) -> list[Finding]:
    """`.env` (by name or as a hard link) or other dotenv files inside the
    workspace (errors), a workspace that exposes the home directory, is
    missing, or was not fully scanned (warnings)."""
    findings: list[Finding] = []
    if workspace.contains_env_file:
        findings.append(
            error(
                "env_in_workspace",
                f".env file {env_path} is inside the workspace {workspace.path}: "
                "the model can read every secret in it",
                "Move .env next to config.yml, outside the workspace directory",
            )
        )
    findings += [
        error(
            "dotenv_in_workspace",
            f"Dotenv file inside the workspace: {path}",
            f"Move {path} out of the workspace (and rotate any secret it holds)",
        )
        for path in workspace.dotenv_files
    ]
    findings += [
        error(
            "env_link_in_workspace",
            f"File inside the workspace is the .env file {env_path} under another name "
            f"(a hard link): {path}",
            f"rm {quote(str(path))} (removes that name only; .env stays), and rotate the "
            "secrets in .env if the model may have read them",
        )
        for path in workspace.env_links
    ]
    if workspace.contains_home:
        findings.append(
            warning(
                "workspace_is_home",
                f"Workspace {workspace.path} is your home directory or contains it: the "
                "model can read ~/.ssh, shell history and other secrets",
                "Set agents.defaults.workspace to a dedicated directory such as ./workspace",
            )
        )
    if not workspace.exists:
        findings.append(
            warning(
                "workspace_missing",
                f"Workspace directory {workspace.path} does not exist",
                f"mkdir -m 700 {quote(str(workspace.path))}",
            )
        )
    if workspace.scan_truncated:
        findings.append(
            warning(
                "workspace_scan_incomplete",
                f"Workspace {workspace.path} is too large or deep to scan fully for dotenv files",
                "Keep the workspace small, or check it by hand for .env files",
            )
        )
    return findings


def bot_file_findings(files: BotFiles) -> list[Finding]:
    """Every file finding, in report order."""
    findings = env_findings(files.env) + config_file_findings(files.config)
    if files.workspace is not None:
        findings += workspace_findings(files.workspace, str(files.env.path))
    return findings
