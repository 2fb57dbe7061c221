"""The shipped config/config.yml is complete, secret-free and loads cleanly."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attrs
import yaml

from autobot.config import load_config
from autobot.config.schema import Config, RateLimit
from autobot.config.secret import Secret

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "config.yml"


def _schema_paths(cls: type, prefix: str = "") -> Iterator[str]:
    """Every dotted key path the schema defines (mapping-valued fields stop there)."""
    assert attrs.has(cls)
    for field in attrs.fields(cls):
        path = f"{prefix}.{field.name}" if prefix else field.name
        yield path
        default = field.default
        if isinstance(default, attrs.Factory):
            default = default.factory()
        if attrs.has(type(default)) and not isinstance(default, Secret):
            yield from _schema_paths(type(default), path)


def _has_path(tree: object, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def test_example_mentions_every_schema_field() -> None:
    tree = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    paths = list(_schema_paths(Config))
    assert "tools.rate_limit.per_tool" in paths and "channels.zulip.allow_from" in paths
    missing = [path for path in paths if not _has_path(tree, path)]
    assert missing == []


def test_example_loads_with_its_references_set() -> None:
    values = yaml.safe_dump(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))  # no comments
    names = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", values)))
    assert "ANTHROPIC_API_KEY" in names
    environ = {name: f"value-of-{name}" for name in names}
    loaded = load_config(EXAMPLE, environ)
    assert loaded.unresolved == ()
    assert loaded.config.providers.anthropic.api_key == Secret("value-of-ANTHROPIC_API_KEY")
    assert loaded.secret_values == frozenset(environ.values())
    assert loaded.config.gateway.host == "127.0.0.1"
    assert loaded.config.tools.rate_limit.per_tool["exec"] == RateLimit(max_calls=10)


def test_example_is_secure_by_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    config = load_config(EXAMPLE, {}).config
    channels = config.channels
    for channel in (channels.telegram, channels.slack, channels.whatsapp, channels.zulip):
        assert channel.allow_from == ()
        assert channel.enabled is False
    assert re.search(r"^\s*# allow_from: \[\"@alice\"", text, re.MULTILINE)
    assert config.tools.sandbox.value == "auto"
    assert config.tools.exec.network is False
    # Every secret field is a ${VAR} reference, never a literal.
    for match in re.finditer(
        r"^\s*(api_key|token|bot_token|app_token|bridge_token):(.*)$", text, re.M
    ):
        assert re.fullmatch(r'\s*"\$\{[A-Z_]+\}"\s*(#.*)?', match.group(2)), match.group(0)


def test_example_defaults_match_the_schema_where_not_illustrative() -> None:
    config = load_config(EXAMPLE, {}).config
    assert config.agents == Config().agents
    assert config.tools == Config().tools
    assert config.cron == Config().cron
    assert config.logging == Config().logging
    assert config.gateway == Config().gateway
