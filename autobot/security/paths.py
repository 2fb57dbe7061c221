"""Path-boundary and `.env` name rules shared by the file tools, exec and doctor.

Pure functions: no I/O except `resolve_within`, which resolves symlinks.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath

# A dot, `env` (or direnv's `envrc`, or `envs`, the directory of per-stage
# dotenv files in cookiecutter-django layouts), then anything but a letter.
# Whatever comes before the dot, and whatever non-letter follows, is decoration
# that keeps the content a dotenv file: `.env`, `secrets.env`, `.env.local`,
# `.env-prod`, `.env_local`, editor and backup copies (`.env~`, `#.env#`,
# `.#.env`, `.env.swp`, `..env.swo`, `.env.bak`, `.env.orig`, `prod.env.save`,
# `.env1`, `.envrc~`). A letter right after `env` makes another word
# (`.environment`, `.envoy.yaml`), and without the dot before `env` it is a
# source file (`env.py` of alembic, `env.h`, `env.sh`, `environment.md`,
# `env_setup.sh`): refusing those would make the doctor reject ordinary
# projects in the workspace. ASCII case folding only: `[a-z]` must not match
# the Kelvin sign or the long s.
_ENV_NAME = re.compile(r"\.env(?:rc|s)?(?![a-z])", re.IGNORECASE | re.ASCII)


def is_env_file_name(name: str) -> bool:
    """True when a file name (not a path) is a dotenv file in any disguise."""
    return bool(_ENV_NAME.search(PurePath(name).name))


def is_within(path: Path, root: Path) -> bool:
    """True when resolved `path` is `root` or lies below it (component-wise,
    so `/srv/bot-evil` is not within `/srv/bot`). Symlinks are followed."""
    resolved = path.resolve(strict=False)
    base = root.resolve(strict=False)
    return resolved == base or base in resolved.parents


def resolve_within(root: Path, user_path: str) -> Path | None:
    """Resolve a model-supplied path against `root`; `None` if it escapes.

    Relative paths are taken from `root`; absolute paths must already lie
    inside it; `..` and symlinks are judged after full resolution. A path
    that cannot be resolved (a link the host may not read, such as
    `/proc/1/fd/0`, or a symlink loop) cannot be shown to stay inside: `None`.
    """
    candidate = Path(user_path)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        base = root.resolve(strict=False)
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError):  # RuntimeError: pathlib's "Symlink loop"
        return None
    return resolved if resolved == base or base in resolved.parents else None
