"""`${VAR}` references inside the string values of a parsed YAML tree.

Pure functions. References are resolved in values only, after YAML parsing,
so a variable's content can never inject YAML structure. Mapping keys are left
alone. Syntax: `${NAME}` (NAME is `[A-Za-z_][A-Za-z0-9_]*`), embedded references
("Bearer ${TOKEN}") work, and `$${` is a literal `${`. Any other `${` is an error.
A value referencing an unset variable becomes None ("not configured").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from autobot.config.errors import ConfigProblem
from autobot.config.keypath import join_index, join_key

_TOKEN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{")


class MalformedReferenceError(ValueError):
    """A `${` that does not open a valid `${NAME}` reference."""


@attrs.frozen
class Expansion:
    """The result of expanding one string.

    `value` is None when any referenced variable is unset. `names` lists every
    variable referenced, in order of appearance; `missing` the unset ones.
    """

    value: str | None
    names: tuple[str, ...]
    missing: tuple[str, ...]


def expand(text: str, env: Mapping[str, str]) -> Expansion:
    """Expand the references in `text` from `env`.

    Raises `MalformedReferenceError` (whose message never quotes `text`) for a
    `${` not followed by a valid name and `}`.
    """
    names: list[str] = []
    missing: list[str] = []
    pieces: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        token, name = match.group(0), match.group(1)
        if token == "$${":
            pieces.append("${")
        elif name is None:
            raise MalformedReferenceError(
                "malformed ${...} reference: use ${NAME} with a name of letters, digits"
                " and underscores, or $${ for a literal '${'"
            )
        else:
            names.append(name)
            if name in env:
                pieces.append(env[name])
            else:
                missing.append(name)
    pieces.append(text[position:])
    value = None if missing else "".join(pieces)
    return Expansion(value=value, names=tuple(names), missing=tuple(missing))


@attrs.frozen(kw_only=True)
class ResolvedTree:
    """A YAML tree with its references resolved, plus where they were.

    `expanded` maps each key path whose value came (at least partly) from a
    variable to the names used; `unresolved` maps each key path that became
    None to the unset names. `problems` lists malformed references.
    """

    tree: object
    expanded: Mapping[str, tuple[str, ...]]
    unresolved: Mapping[str, tuple[str, ...]]
    problems: tuple[ConfigProblem, ...]


def resolve_references(tree: object, env: Mapping[str, str]) -> ResolvedTree:
    """Return a copy of `tree` with every string value expanded from `env`."""
    expanded: dict[str, tuple[str, ...]] = {}
    unresolved: dict[str, tuple[str, ...]] = {}
    problems: list[ConfigProblem] = []

    def walk(node: object, path: str) -> object:
        if isinstance(node, Mapping):
            return {key: walk(value, join_key(path, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, join_index(path, i)) for i, item in enumerate(node)]
        if not isinstance(node, str):
            return node
        try:
            expansion = expand(node, env)
        except MalformedReferenceError as error:
            problems.append(ConfigProblem(path, str(error)))
            return node
        if expansion.missing:
            unresolved[path] = expansion.missing
        elif expansion.names:
            expanded[path] = expansion.names
        return expansion.value

    resolved = walk(tree, "")
    return ResolvedTree(
        tree=resolved, expanded=expanded, unresolved=unresolved, problems=tuple(problems)
    )
