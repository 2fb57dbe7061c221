"""No secret value ever appears in a ConfigError, however the config is wrong."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.config import ConfigError, load_config

# A recognisable prefix keeps the secret from occurring in a message by chance
# (a secret such as "port" would match the key path, not a leak).
secrets = st.text(min_size=4, max_size=40).map(lambda tail: "zq9-" + tail)
dotenv_safe_secrets = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=:@",
    min_size=4,
    max_size=40,
).map(lambda tail: "zq9-" + tail)

# Places a ${SECRET} reference makes the config invalid (wrong type or range).
REFERENCE_SITES = [
    "gateway: {port: '${SECRET}'}",
    "gateway: {host: 'x${SECRET}'}\ntools: {sandbox: '${SECRET}'}",
    "tools: {sandbox: '${SECRET}'}",
    "logging: {level: '${SECRET}'}",
    "cron: {enabled: '${SECRET}'}",
    "agents: {defaults: {temperature: '${SECRET}'}}",
    "tools: {web: {ssrf_allowlist: ['${SECRET}']}}",
    "tools: {sandbox_env: '${SECRET}'}",
    "providers: {anthropic: {api_base: 'ftp://${SECRET}/v1'}}",
    "providers: {openai: {api_base: '${SECRET}'}}",
    "channels: {telegram: {api_base: '${SECRET}'}}",
    "channels: {whatsapp: {bridge_url: '${SECRET}'}}",
    "tools: {web: {search: {base_url: 'x-${SECRET}'}}}",
    "tools: {rate_limit: {per_tool: {exec: {max_calls: '${SECRET}'}}}}",
]


def _load_error(config_text: str, env_text: str | None, environ: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yml"
        path.write_text(config_text, encoding="utf-8")
        if env_text is not None:
            (Path(tmp) / ".env").write_text(env_text, encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_config(path, environ)
    error = caught.value
    return str(error) + repr(error.args) + repr(error.problems)


@settings(max_examples=60)
@given(secret=secrets, site=st.sampled_from(REFERENCE_SITES))
def test_secret_from_process_environment_is_never_echoed(secret: str, site: str) -> None:
    text = _load_error(site + "\n", None, {"SECRET": secret})
    assert secret not in text
    assert "${SECRET}" in text


@settings(max_examples=60)
@given(secret=dotenv_safe_secrets, site=st.sampled_from(REFERENCE_SITES))
def test_secret_from_dotenv_is_never_echoed(secret: str, site: str) -> None:
    text = _load_error(site + "\n", f"SECRET='{secret}'\n", {})
    assert secret not in text


SECRET_FIELDS = [
    ("providers", "anthropic", "api_key"),
    ("channels", "telegram", "token"),
    ("channels", "slack", "app_token"),
    ("channels", "zulip", "api_key"),
    ("tools", "web", "search", "api_key"),
]


def _nested(keys: tuple[str, ...], value: object) -> dict[str, object]:
    tree: object = value
    for key in reversed(keys):
        tree = {key: tree}
    assert isinstance(tree, dict)
    return tree


@settings(max_examples=60)
@given(
    secret=secrets,
    keys=st.sampled_from(SECRET_FIELDS),
    shape=st.sampled_from(["list", "mapping", "list-with-int"]),
)
def test_wrongly_typed_plaintext_secret_field_is_never_echoed(
    secret: str, keys: tuple[str, ...], shape: str
) -> None:
    value: object = {"list": [secret], "mapping": {"k": secret}, "list-with-int": [secret, 1]}[
        shape
    ]
    config_text = yaml.safe_dump(_nested(keys, value), allow_unicode=True)
    text = _load_error(config_text + "gateway: {port: 0}\n", None, {})
    assert secret not in text
    assert "the value is not shown" in text


def test_bad_enum_from_variable_gets_no_did_you_mean() -> None:
    # A suggestion would reveal what the hidden value looks like.
    text = _load_error("tools: {sandbox: '${SECRET}'}\n", None, {"SECRET": "bubblewrapp"})
    assert "did you mean" not in text
    assert "bubblewrapp" not in text


def test_reference_failure_message_names_the_variable_not_the_value() -> None:
    text = _load_error("gateway: {port: '${SECRET}'}\n", None, {"SECRET": "8080"})
    assert "gateway.port: must be an integer (the value from ${SECRET} is not shown)" in text
    assert "8080" not in text
