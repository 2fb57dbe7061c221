"""Parse config.yml text into plain Python data, strictly.

Safe loading only (no Python tags), plus two refusals PyYAML does not make by
default: duplicate keys in one mapping (PyYAML silently keeps the last one,
which could quietly replace an `allow_from`) and aliases (`*name`), which the
configuration never needs and which can blow up the size of the tree.
"""

from __future__ import annotations

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

from autobot.config.errors import ConfigProblem


class _StrictLoader(yaml.SafeLoader):
    """`SafeLoader` that rejects aliases and duplicate mapping keys."""

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
    except yaml.MarkedYAMLError as error:
        raise YamlSyntaxError(_describe_marked(error)) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError("invalid YAML: " + " ".join(str(error).split())) from None


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
