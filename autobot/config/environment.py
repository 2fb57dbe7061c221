"""The variables `${VAR}` references resolve from: process environment over `.env`.

The `.env` beside `config.yml` is parsed with python-dotenv's parser
(`dotenv.parser.parse_stream`, what `dotenv_values` uses underneath), without
interpolation (values are taken literally, so nothing outside the file and the
injected environment is consulted). Calling the parser directly, rather than
`dotenv_values`, gives the lines it could not parse as data (doctor reports
them) instead of a stray warning on stderr. `os.environ` is never read or
mutated here: the caller passes the process environment in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs
from dotenv.parser import parse_stream

ENV_FILE_NAME = ".env"


@attrs.frozen(kw_only=True)
class EnvFile:
    """A parsed dotenv file: its variables, and where unparseable statements start."""

    values: dict[str, str] = attrs.field(repr=False)  # secrets: never in a repr
    malformed_lines: tuple[int, ...] = ()  # 1-based; each such statement is ignored


def parse_env_file(path: Path) -> EnvFile:
    """Parse the dotenv file at `path`; an empty `EnvFile` if there is no such file.

    Keys without a value (a bare `NAME` line) are skipped; a later definition
    of a name wins. Raises `OSError` or `UnicodeDecodeError` when the file
    exists but cannot be read.
    """
    if not path.is_file():
        return EnvFile(values={})
    values: dict[str, str] = {}
    malformed: list[int] = []
    with path.open(encoding="utf-8") as stream:
        for binding in parse_stream(stream):
            if binding.error:
                malformed.append(binding.original.line)
            elif binding.key is not None and binding.value is not None:
                values[binding.key] = binding.value
    return EnvFile(values=values, malformed_lines=tuple(malformed))


def read_env_file(path: Path) -> dict[str, str]:
    """The variables defined in the dotenv file at `path` (see `parse_env_file`)."""
    return parse_env_file(path).values


def merge_environment(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The variables references see: `dotenv`, overridden by the process `environ`."""
    return {**dotenv, **environ}
