"""Facts about a bot's files, gathered with blocking I/O for the pure checks.

`inspect_bot_files` is the only doctor code that touches the filesystem
(besides loading the config): it stats `.env` and `config.yml`, resolves
paths (symlinks followed, component-wise containment via
`autobot.security.paths.is_within`) and scans the workspace for dotenv files
and for the `.env` itself under another name (a hard link).
Run it in a worker thread from async code.
"""

from __future__ import annotations

import enum
import os
import stat
from pathlib import Path

import attrs

from autobot.doctor.workspace_scan import find_dotenv_files
from autobot.security.paths import is_within
from autobot.security.protected_files import protected_file_ids


class FileKind(enum.Enum):
    MISSING = "missing"
    REGULAR = "regular"
    OTHER = "other"  # directory, fifo, dangling symlink target...


@attrs.frozen(kw_only=True)
class FileState:
    """What `stat` (following symlinks) says about one path."""

    path: Path  # absolute, symlinks not resolved: what the operator should type
    kind: FileKind
    mode: int | None  # permission bits, for existing files


@attrs.frozen(kw_only=True)
class WorkspaceFacts:
    """The workspace as the sandbox will see it."""

    path: Path  # fully resolved
    exists: bool
    contains_env_file: bool  # the bot's .env lies inside (lexically or resolved)
    contains_home: bool  # the workspace is $HOME, an ancestor of it, or `/`
    dotenv_files: tuple[Path, ...]  # other dotenv-named files found inside
    env_links: tuple[Path, ...]  # the bot's .env inside under another name (hard links)
    scan_truncated: bool


@attrs.frozen(kw_only=True)
class BotFiles:
    config: FileState
    env: FileState
    workspace: WorkspaceFacts | None  # None when the config did not load


def file_state(path: Path) -> FileState:
    """Stat `path` (following symlinks); a dangling symlink counts as OTHER."""
    absolute = Path(os.path.abspath(path))
    try:
        info = absolute.stat()
    except FileNotFoundError:
        kind = FileKind.OTHER if absolute.is_symlink() else FileKind.MISSING
        return FileState(path=absolute, kind=kind, mode=None)
    except OSError:
        return FileState(path=absolute, kind=FileKind.OTHER, mode=None)
    kind = FileKind.REGULAR if stat.S_ISREG(info.st_mode) else FileKind.OTHER
    return FileState(path=absolute, kind=kind, mode=stat.S_IMODE(info.st_mode))


def _lexically_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def inspect_workspace(workspace: Path, env_file: Path, home: Path) -> WorkspaceFacts:
    """Resolve `workspace` and look inside it for the bot's `.env` and other dotenv files."""
    absolute = Path(os.path.abspath(workspace))
    env_absolute = Path(os.path.abspath(env_file))
    resolved = absolute.resolve(strict=False)
    env_inside = _lexically_within(env_absolute, absolute) or is_within(env_absolute, resolved)
    scan = find_dotenv_files(resolved, protected=protected_file_ids([env_absolute]))
    others, links = scan.found, scan.env_links
    if env_inside:  # already an error of its own; do not report the same file twice
        env_resolved = env_absolute.resolve(strict=False)
        others = tuple(p for p in others if p.resolve(strict=False) != env_resolved)
        links = tuple(p for p in links if p.resolve(strict=False) != env_resolved)
    return WorkspaceFacts(
        path=resolved,
        exists=resolved.is_dir(),
        contains_env_file=env_inside,
        contains_home=is_within(home, resolved),
        dotenv_files=others,
        env_links=links,
        scan_truncated=scan.truncated,
    )


def inspect_bot_files(
    *, config_file: Path, env_file: Path, workspace: Path | None, home: Path
) -> BotFiles:
    """Gather every filesystem fact the doctor's file checks need. Raises nothing."""
    return BotFiles(
        config=file_state(config_file),
        env=file_state(env_file),
        workspace=None if workspace is None else inspect_workspace(workspace, env_file, home),
    )
