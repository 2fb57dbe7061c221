"""Configuration errors: one `ConfigError` carrying every `ConfigProblem` found.

This module owns how a problem is worded. `ProblemWriter` is the single place
that decides whether an offending value may be echoed: values of `Secret`
fields and values produced by `${VAR}` expansion are never shown.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

import attrs

from autobot.security.secret_patterns import find_plaintext_secrets

_MAX_ECHO = 40


@attrs.frozen
class ConfigProblem:
    """One thing wrong with the configuration.

    `path` is the dotted key path ("tools.sandbox", "channels.telegram.allow_from[0]");
    it is "" for a problem with the file as a whole (missing, unreadable, bad YAML).
    """

    path: str
    message: str

    def render(self) -> str:
        """`path: message`, or just the message for a whole-file problem."""
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason at once.

    `str()` names `source` (the config file): one line for a single problem
    (`/bot/config.yml: is a FIFO (named pipe), not a regular file`), else a
    multi-line report with one problem per line. The message never contains
    a secret value (see `ProblemWriter`).
    """

    def __init__(self, source: str, problems: Iterable[ConfigProblem]) -> None:
        self.source = source
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("a ConfigError needs at least one problem")
        if len(self.problems) == 1:
            super().__init__(f"{source}: {self.problems[0].render()}")
            return
        lines = [f"{source}: {len(self.problems)} problems:"]
        lines.extend(f"  - {problem.render()}" for problem in self.problems)
        super().__init__("\n".join(lines))


def describe_value(value: object) -> str:
    """A short, YAML-flavoured description of a parsed value for an error message.

    A string is quoted only as a short excerpt (at most `_MAX_ECHO`
    characters), and not at all when it holds anything shaped like a
    credential (`find_plaintext_secrets`): it may be a key typed in the
    wrong place.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if find_plaintext_secrets(value):
            return "a string that looks like a credential (not shown)"
        text = repr(value)
        return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 4] + "...'"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, datetime.datetime):
        return "a timestamp"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__}"


@attrs.frozen(kw_only=True)
class ProblemWriter:
    """Words "must be X (got Y)" problems without leaking secrets.

    `expanded` maps a key path to the `${VAR}` names that were substituted into
    its value; `unresolved` maps a key path to the names that could not be
    resolved (its value became null). A value at an expanded path is never
    echoed; a null at an unresolved path is explained by the missing variable.
    """

    expanded: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    unresolved: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def invalid(
        self,
        path: str,
        expected: str,
        value: object,
        *,
        conceal: bool = False,
        hint: str | None = None,
    ) -> ConfigProblem:
        """A problem saying the value at `path` must be `expected`.

        `conceal` hides the value (used for `Secret` fields); `hint` (for
        instance "did you mean 'bubblewrap'?") is dropped whenever the value is
        hidden, since a suggestion would reveal what the value looks like.
        """
        if value is None and path in self.unresolved:
            names = ", ".join(f"${{{name}}}" for name in self.unresolved[path])
            return ConfigProblem(
                path, f"must be {expected} ({names} is not set in the environment or .env)"
            )
        if path in self.expanded:
            names = ", ".join(f"${{{name}}}" for name in self.expanded[path])
            return ConfigProblem(path, f"must be {expected} (the value from {names} is not shown)")
        if conceal:
            return ConfigProblem(path, f"must be {expected} (the value is not shown)")
        got = f"got {describe_value(value)}"
        return ConfigProblem(path, f"must be {expected} ({got}{'; ' + hint if hint else ''})")
