"""Load a bot's `config.yml` into a `LoadedConfig`, or fail with one `ConfigError`.

Steps: read the file, parse YAML strictly, resolve `${VAR}` references in
values (process environment over the `.env` beside the file), structure into
`Config` with the strict converter, check value ranges, then resolve the
bot's paths. Every problem from every step that can run is reported at once.

The file is read only if it is a regular file (symlinks to one are followed:
operators link configs into place) of at most `MAX_CONFIG_BYTES`, checked on
the opened descriptor before anything is parsed (`read_config_bytes`): a
FIFO, a device such as `/dev/zero` or a huge file is refused by name, never
waited for or read into memory.

Relative paths in the file (`agents.defaults.workspace`, `cron.store`,
`logging.dir`) are taken from the bot directory (the config file's directory),
never from the current directory. `~` is not expanded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

from autobot.config.convert import make_converter, structure_config
from autobot.config.environment import ENV_FILE_NAME, merge_environment, read_env_file
from autobot.config.errors import ConfigError, ConfigProblem, ProblemWriter
from autobot.config.keypath import join_index, join_key
from autobot.config.references import resolve_references
from autobot.config.rules import check_values
from autobot.config.schema import Config
from autobot.config.secret import Secret
from autobot.config.yaml_text import YamlSyntaxError, parse_yaml
from autobot.security.regular_file import FileRefused, read_regular_file

CONFIG_FILE_NAME = "config.yml"
SESSIONS_DIR_NAME = "sessions"
# A generous configuration is a few kilobytes; this only keeps a mistaken
# target (a log, a database, a disk image) from being parsed.
MAX_CONFIG_BYTES = 1 << 20


@attrs.frozen(kw_only=True)
class LoadedConfig:
    """A validated `Config` plus everything derived from where it was loaded.

    All paths are absolute and resolved. `secret_values` holds every non-empty
    value from `.env` and every credential that ended up in a `Secret` field
    (with the variables substituted into it), for the log actor to redact
    verbatim; `secret_variables` the names those came from (every name `.env`
    defines, every `${NAME}` substituted into a `Secret` field), which must
    never be forwarded into the sandbox. `unresolved` lists "${NAME} at key.path" for each reference that
    could not be resolved (that value is unset). `raw_text` is the file as
    read, for doctor's plaintext-secret scan. Neither of those two appears in
    `repr()`.
    """

    config: Config
    path: Path
    bot_dir: Path
    env_file: Path
    workspace: Path
    sessions_dir: Path
    logs_dir: Path
    cron_store: Path
    secret_values: frozenset[str] = attrs.field(repr=False)
    secret_variables: frozenset[str] = frozenset()
    unresolved: tuple[str, ...]
    raw_text: str = attrs.field(repr=False)


def find_config_path(cli_value: str | None, cwd: Path) -> Path:
    """The config file to load: `--config PATH` (a directory means its
    config.yml) or `./config.yml`, relative to `cwd`. Existence is not
    checked here (`load_config` reports a missing file).

    Raises `ConfigError` for an empty `--config` value.
    """
    if cli_value is None:
        return _absolute(cwd / CONFIG_FILE_NAME)
    if not cli_value.strip():
        raise ConfigError("--config", [ConfigProblem("", "needs a path to a config file")])
    candidate = _absolute(cwd / cli_value)  # an absolute cli_value replaces cwd
    return candidate / CONFIG_FILE_NAME if candidate.is_dir() else candidate


def load_config(path: Path, environ: Mapping[str, str]) -> LoadedConfig:
    """Load and validate the config file at `path`.

    `environ` is the process environment (pass `os.environ`); it wins over the
    `.env` beside the file. Raises `ConfigError` listing every problem found:
    missing, unreadable, oversized or not a regular file (`read_config_bytes`),
    not UTF-8, bad YAML (with line and column; too deeply nested), a
    non-mapping top level, a `.env` that cannot be read, malformed references,
    unknown keys (with "did you mean"), wrong types, bad enum values and
    out-of-range values. The error never contains a secret value, nor more of
    the file than a short excerpt of an unexpected value.
    """
    path = _absolute(path)
    bot_dir = path.parent.resolve()
    path = bot_dir / path.name
    source = str(path)
    raw_text = _decode(read_config_bytes(path), source)
    tree = _parse_top_level(raw_text, source)

    problems: list[ConfigProblem] = []
    env_file = bot_dir / ENV_FILE_NAME
    try:
        dotenv = read_env_file(env_file)
    except (OSError, UnicodeDecodeError, FileRefused) as error:
        problems.append(ConfigProblem("", f"cannot read {env_file}: {_reason(error)}"))
        dotenv = {}
    env = merge_environment(environ, dotenv)

    resolved = resolve_references(tree, env)
    problems.extend(resolved.problems)
    writer = ProblemWriter(expanded=resolved.expanded, unresolved=resolved.unresolved)
    structured = structure_config(make_converter(), resolved.tree, writer)
    if isinstance(structured, tuple):
        problems.extend(structured)
    problems.extend(check_values(resolved.tree, writer))
    if problems or isinstance(structured, tuple):
        raise ConfigError(source, problems)
    config = structured

    secrets = {value for value in dotenv.values() if value}
    variables = set(dotenv)
    for secret_path, secret in _secrets_in(config, ""):
        secrets.add(secret.reveal())
        names = resolved.expanded.get(secret_path, ())
        secrets.update(env[name] for name in names if env[name])
        variables.update(names)
    defaults = config.agents.defaults
    return LoadedConfig(
        config=config,
        path=path,
        bot_dir=bot_dir,
        env_file=env_file,
        workspace=_from_bot_dir(bot_dir, defaults.workspace),
        sessions_dir=bot_dir / SESSIONS_DIR_NAME,
        logs_dir=_from_bot_dir(bot_dir, config.logging.dir),
        cron_store=_from_bot_dir(bot_dir, config.cron.store),
        secret_values=frozenset(secrets),
        secret_variables=frozenset(variables),
        unresolved=tuple(
            f"${{{name}}} at {key_path}"
            for key_path, names in resolved.unresolved.items()
            for name in names
        ),
        raw_text=raw_text,
    )


def _absolute(path: Path) -> Path:
    """`path` made absolute and normalized lexically (symlinks are not followed)."""
    return Path(os.path.abspath(path))


def _from_bot_dir(bot_dir: Path, value: str) -> Path:
    return (bot_dir / value).resolve()


def _reason(error: OSError | UnicodeDecodeError | FileRefused) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {error.start})"
    if isinstance(error, FileRefused):
        return f"it {error}"
    return error.strerror or type(error).__name__


def read_config_bytes(path: Path) -> bytes:
    """The bytes of the config file at `path`, a regular file (or a symlink to
    one) of at most `MAX_CONFIG_BYTES`.

    Never blocks on a FIFO or device and never reads more than the limit plus
    one byte. Raises `ConfigError` (one whole-file problem naming `path`):
    missing, a directory or another non-regular file, too large, unreadable.
    """
    try:
        return read_regular_file(path, limit=MAX_CONFIG_BYTES)
    except FileNotFoundError:
        message = "file not found (create it with `autobot new NAME`, or pass --config PATH)"
    except FileRefused as error:
        message = str(error)
    except OSError as error:
        message = f"cannot read the file: {_reason(error)}"
    raise ConfigError(str(path), [ConfigProblem("", message)])


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        problem = ConfigProblem("", f"cannot read the file: {_reason(error)}")
        raise ConfigError(source, [problem]) from None


def _parse_top_level(text: str, source: str) -> Mapping[object, object]:
    try:
        tree = parse_yaml(text)
    except YamlSyntaxError as error:
        raise ConfigError(source, [error.problem()]) from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        # Never quote a whole-file value: a config.yml linked to another file
        # (`/etc/passwd`, a key file) would echo its first line.
        sections = ", ".join(field.name for field in attrs.fields(Config))
        message = (
            f"the top level must be a mapping of sections ({sections}), got {_top_level_kind(tree)}"
        )
        raise ConfigError(source, [ConfigProblem("", message)])
    return tree


def _top_level_kind(tree: object) -> str:
    """What a non-mapping document is, without any of its content."""
    if isinstance(tree, str):
        return f"a string of {len(tree):,} characters"
    if isinstance(tree, list):
        return f"a list of {len(tree):,} items"
    return "a single number, date or boolean"


def _secrets_in(node: object, path: str) -> Iterator[tuple[str, Secret]]:
    """Every `Secret` inside a structured config value, with its key path."""
    if isinstance(node, Secret):
        yield path, node
    elif attrs.has(cls := type(node)):
        for field in attrs.fields(cls):
            yield from _secrets_in(getattr(node, field.name), join_key(path, field.name))
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _secrets_in(value, join_key(path, key))
    elif isinstance(node, tuple):
        for index, item in enumerate(node):
            yield from _secrets_in(item, join_index(path, index))
