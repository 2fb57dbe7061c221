"""The variables `${VAR}` references resolve from: process environment over `.env`.

The `.env` beside `config.yml` is parsed with python-dotenv (`dotenv_values`),
without interpolation (its values are taken literally, so nothing outside the
file and the injected environment is consulted). `os.environ` is never read
or mutated here: the caller passes the process environment in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

ENV_FILE_NAME = ".env"


def read_env_file(path: Path) -> dict[str, str]:
    """The variables defined in the dotenv file at `path`; {} if there is no such file.

    Keys without a value (a bare `NAME` line) are skipped. Raises `OSError` or
    `UnicodeDecodeError` when the file exists but cannot be read.
    """
    if not path.is_file():
        return {}
    values = dotenv_values(path, interpolate=False, encoding="utf-8")
    return {name: value for name, value in values.items() if value is not None}


def merge_environment(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The variables references see: `dotenv`, overridden by the process `environ`."""
    return {**dotenv, **environ}
