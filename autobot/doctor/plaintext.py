"""Plaintext secrets in `config.yml` (pure).

Two independent detectors, merged per line:
- the shared credential patterns (`find_plaintext_secrets`: Anthropic,
  OpenAI, Slack, Telegram, AWS... keys anywhere in the text);
- every `Secret` field of the schema whose YAML value holds no `${VAR}`
  reference at all, whatever it looks like (catches keys no pattern knows).

Findings name the family or field and the line; they never contain the value.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator

import attrs
import yaml

from autobot.config.schema import Config
from autobot.config.secret import Secret
from autobot.config.yaml_text import YamlSyntaxError, compose_yaml
from autobot.doctor.findings import Finding, error
from autobot.security.secret_patterns import find_plaintext_secrets

# A `${NAME}` not preceded by `$` (`$${` is an escaped literal, see config.references).
_REFERENCE = re.compile(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*\}")

ConfigPath = tuple[str, ...]


def secret_field_paths(cls: type = Config, prefix: ConfigPath = ()) -> tuple[ConfigPath, ...]:
    """Every path (e.g. `("providers", "anthropic", "api_key")`) typed `Secret | None`."""
    paths: list[ConfigPath] = []
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        hint = hints[field.name]
        path = (*prefix, field.name)
        if Secret in typing.get_args(hint) or hint is Secret:
            paths.append(path)
        elif isinstance(hint, type) and attrs.has(hint):
            paths.extend(secret_field_paths(hint, path))
    return tuple(paths)


def _scalar_at(root: yaml.Node, path: ConfigPath) -> yaml.ScalarNode | None:
    node: yaml.Node = root
    for key in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                node = value_node
                break
        else:
            return None
    return node if isinstance(node, yaml.ScalarNode) else None


def _literal_secret_fields(raw_text: str) -> Iterator[tuple[int, str]]:
    """(line, dotted path) of each secret field holding a non-empty literal."""
    try:
        root = compose_yaml(raw_text)
    except YamlSyntaxError:
        return  # the loader reports the syntax error; the patterns still run
    if root is None:
        return
    for path in secret_field_paths():
        node = _scalar_at(root, path)
        if node is None or node.tag == "tag:yaml.org,2002:null":
            continue
        value = str(node.value).strip()
        if value and not _REFERENCE.search(value):
            yield node.start_mark.line + 1, ".".join(path)


def _article(label: str) -> str:
    """`label` with its indefinite article: "an Anthropic API key", "a Slack token"."""
    return f"{'an' if label[:1].upper() in 'AEIOU' else 'a'} {label}"


def plaintext_secret_findings(raw_text: str, config_name: str) -> list[Finding]:
    """One ERROR per config line that holds a plaintext secret, in line order."""
    reasons: dict[int, list[str]] = {}
    for match in find_plaintext_secrets(raw_text):
        reasons.setdefault(match.line, []).append(f"looks like {_article(match.family)}")
    for line, dotted in _literal_secret_fields(raw_text):
        reasons.setdefault(line, []).append(f"{dotted} is a literal, not a ${{VAR}} reference")
    return [
        error(
            "plaintext_secret",
            f"Plaintext secret in {config_name} line {line} ({'; '.join(why)})",
            "Move the value into .env (e.g. NAME=value) and write `${NAME}` in "
            f"{config_name}; then rotate the exposed credential",
        )
        for line, why in sorted(reasons.items())
    ]
