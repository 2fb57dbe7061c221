"""The variables `${VAR}` references resolve from: process environment over `.env`.

The `.env` beside `config.yml` is parsed with python-dotenv's parser
(`dotenv.parser.parse_stream`, what `dotenv_values` uses underneath), without
interpolation (values are taken literally, so nothing outside the file and the
injected environment is consulted). Calling the parser directly, rather than
`dotenv_values`, gives the lines it could not parse as data (doctor reports
them) instead of a stray warning on stderr. `os.environ` is never read or
mutated here: the caller passes the process environment in.

The file is read like `config.yml`: only a regular file (or a symlink to one)
of at most `MAX_ENV_BYTES`, checked on the opened descriptor, so a FIFO or a
device in its place is refused instead of hanging or filling memory.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import attrs
from dotenv.parser import parse_stream

from autobot.security.regular_file import read_regular_file

ENV_FILE_NAME = ".env"
# Far more than any set of credentials (PEM keys included) needs.
MAX_ENV_BYTES = 1 << 20


@attrs.frozen(kw_only=True)
class EnvFile:
    """A parsed dotenv file: its variables, and where unparseable statements start."""

    values: dict[str, str] = attrs.field(repr=False)  # secrets: never in a repr
    malformed_lines: tuple[int, ...] = ()  # 1-based; each such statement is ignored


def parse_env_file(path: Path) -> EnvFile:
    """Parse the dotenv file at `path`; an empty `EnvFile` if there is no such file.

    Keys without a value (a bare `NAME` line) are skipped; a later definition
    of a name wins. Raises `FileRefused` when something other than a regular
    file is there or it exceeds `MAX_ENV_BYTES`, `OSError` or
    `UnicodeDecodeError` when it exists but cannot be read.
    """
    try:
        data = read_regular_file(path, limit=MAX_ENV_BYTES)
    except FileNotFoundError:
        return EnvFile(values={})
    values: dict[str, str] = {}
    malformed: list[int] = []
    text = io.StringIO(data.decode("utf-8"), newline=None)  # universal newlines, as open() reads
    for binding in parse_stream(text):
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
