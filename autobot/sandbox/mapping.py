"""Host-side checks of model-supplied paths and commands (defence in depth).

The kernel sandbox is the real boundary; these checks give the model a clear
refusal and the operator an ACCESS DENIED record before anything runs.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path, PurePosixPath

from autobot.sandbox.policy import SANDBOX_WORKSPACE
from autobot.security.paths import is_env_file_name, resolve_within

# Shell syntax that separates words: whitespace, operators, quotes, expansions.
_SHELL_SEPARATORS = re.compile(r"[\s;|&<>()'\"`$={},]+")


class PathRefused(Exception):
    """A model path that must not be used; the message is shown to the model."""


def workspace_relpath(workspace: Path, user_path: str) -> str:
    """Map a model path to a resolved POSIX path relative to `workspace`.

    Accepts relative paths, absolute paths under the in-sandbox `/workspace`
    and absolute host paths inside the workspace. Raises PathRefused for
    dotenv names (before or after resolving symlinks), NUL bytes, and
    anything that resolves outside the workspace (`..`, absolute paths,
    symlinks).
    """
    raw = _model_path(user_path)
    _refuse_env_parts(PurePosixPath(raw), user_path)
    if raw == ".":
        return raw
    root = workspace.resolve()
    resolved = resolve_within(root, raw)
    if resolved is None:
        raise PathRefused(f"path '{user_path}' is outside the workspace")
    relative = PurePosixPath(resolved.relative_to(root).as_posix())
    _refuse_env_parts(relative, user_path)
    return relative.as_posix()


def workspace_file_relpath(workspace: Path, user_path: str) -> str:
    """Map a model path naming a workspace file *as itself* to its relative path.

    Refuses what `workspace_relpath` refuses, plus the workspace root itself
    and any path that is, or passes through, a symlink (even one that stays
    inside: the path written must be the path resolved), raising PathRefused
    with a message for the model. A check for a clear error only: whoever
    then uses the file still opens it without following links
    (`autobot.platform.workspace_fs`).
    """
    relative = workspace_relpath(workspace, user_path)
    if relative == ".":
        raise PathRefused(f"path '{user_path}' is the workspace itself, not a file")
    if _lexical_relpath(workspace, _model_path(user_path)) != relative:
        raise PathRefused(
            f"path '{user_path}' is a symlink or passes through one; name the file itself"
        )
    return relative


def _model_path(user_path: str) -> str:
    """`user_path` stripped, with the in-sandbox `/workspace` prefix removed
    (`.` for the root); raises PathRefused for a NUL byte."""
    raw = user_path.strip() or "."
    if "\x00" in raw:
        raise PathRefused("path contains a NUL byte")
    if raw == SANDBOX_WORKSPACE or raw.startswith(SANDBOX_WORKSPACE + "/"):
        raw = raw[len(SANDBOX_WORKSPACE) :].lstrip("/") or "."
    return raw


def _lexical_relpath(workspace: Path, raw: str) -> str | None:
    """`raw` relative to the workspace by its spelling alone (`..` folded, no
    link followed); None when it does not lie inside."""
    normal = posixpath.normpath(raw)
    if posixpath.isabs(normal):
        for root in (posixpath.normpath(workspace.absolute()), str(workspace.resolve())):
            if normal == root:
                return "."
            if normal.startswith(root.rstrip("/") + "/"):
                return normal[len(root.rstrip("/")) + 1 :]
        return None
    return None if normal == ".." or normal.startswith("../") else normal


def _refuse_env_parts(path: PurePosixPath, user_path: str) -> None:
    if any(is_env_file_name(part) for part in path.parts):
        raise PathRefused(f"access to dotenv file '{user_path}' is blocked")


def dotenv_token(command: str) -> str | None:
    """The first word of `command` that names a dotenv file (`cat .env`,
    `cp .env.local x`, `cat dir/secrets.env`), or None."""
    for word in _SHELL_SEPARATORS.split(command):
        if word and is_env_file_name(word):
            return word
    return None
