"""Parse config.yml text into plain Python data, strictly.

Safe loading only (no Python tags), plus refusals PyYAML does not make by
default: duplicate keys in one mapping (PyYAML silently keeps the last one,
which could quietly replace an `allow_from`), aliases (`*name`), which the
configuration never needs and which can blow up the size of the tree, and
nesting deeper than `MAX_YAML_DEPTH`. PyYAML's composer and constructor
recurse once per level, so a file of 20,000 `[` would otherwise end in a
`RecursionError`; the depth is counted as nodes are composed and the error
is raised before the next level is entered (the scanner and parser below the
composer are iterative), so the interpreter's stack never comes near its limit.
"""

from __future__ import annotations

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from autobot.config.errors import ConfigProblem

# The schema nests 5 levels (`channels.telegram.allow_from[0]` is 4 below the
# top); anything near this is a mistake or an attack, not a configuration.
MAX_YAML_DEPTH = 32


class _DepthLimitedLoader(yaml.SafeLoader):
    """`SafeLoader` that refuses nodes nested deeper than `MAX_YAML_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self._depth >= MAX_YAML_DEPTH:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(
                None,
                None,
                f"nested more than {MAX_YAML_DEPTH} levels deep",
                event.start_mark,
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _StrictLoader(_DepthLimitedLoader):
    """Depth-limited `SafeLoader` that also rejects aliases and duplicate mapping keys."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(
                None,
                None,
                "aliases (*name) are not supported in the configuration",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: the base class reports it with its mark
            if duplicate:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> object:
    """The data in `text` (None for an empty document).

    Raises `YamlSyntaxError` naming line and column; the message never quotes
    the offending line (it might hold a credential).
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        raise _syntax_error(error) from None


def compose_yaml(text: str) -> Node | None:
    """The node tree of `text` (None for an empty document), with marks, for
    checks that need line numbers. Aliases and duplicate keys are allowed
    (nothing is constructed); nesting is limited as in `parse_yaml`.

    Raises `YamlSyntaxError` like `parse_yaml`.
    """
    try:
        return yaml.compose(text, Loader=_DepthLimitedLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        raise _syntax_error(error) from None


def _syntax_error(error: yaml.YAMLError) -> YamlSyntaxError:
    if isinstance(error, yaml.MarkedYAMLError):
        return YamlSyntaxError(_describe_marked(error))
    return YamlSyntaxError("invalid YAML: " + " ".join(str(error).split()))


class YamlSyntaxError(ValueError):
    """The text is not valid (or not acceptable) YAML; the message is user-facing."""

    def problem(self) -> ConfigProblem:
        """This error as a whole-file `ConfigProblem`."""
        return ConfigProblem("", str(self))


def _describe_marked(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    what = error.problem or error.context or "syntax error"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = f" ({error.context})" if error.context and error.problem else ""
    return f"invalid YAML at {where}{what}{context}"
