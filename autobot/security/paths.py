"""Path-boundary and `.env` name rules shared by the file tools, exec and doctor.

Pure functions: no I/O except `resolve_within`, which resolves symlinks.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath

# A dot, `env`, then the end or `.`/`-`/`_`: `.env`, `.env.local`, `.env.production`,
# `secrets.env`, `prod.env.bak`, `.env-prod`, `.env_local`, `secrets.env_old`... but
# not `environment.py`, `.envrc`, `env_setup.sh`, `env`, nor source files such as
# `env.py` (alembic) or `env.h`: no dot before `env`. Refusing those would make the
# doctor reject ordinary projects in the workspace.
_ENV_NAME = re.compile(r"\.env(?:[.\-_]|$)", re.IGNORECASE)


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
