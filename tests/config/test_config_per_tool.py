"""`tools.rate_limit.per_tool`: merged over the defaults; only tool names are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from autobot.config import ConfigError, load_config
from autobot.config.schema import TOOL_NAMES, RateLimit, RateLimitConfig

DEFAULTS = {
    "exec": RateLimit(max_calls=10),
    "web_fetch": RateLimit(max_calls=20),
    "web_search": RateLimit(max_calls=10),
}


def _load(tmp_path: Path, per_tool: str) -> dict[str, RateLimit]:
    config = tmp_path / "config.yml"
    config.write_text(f"tools:\n  rate_limit:\n    per_tool: {per_tool}\n")
    return load_config(config, {}).config.tools.rate_limit.per_tool


def test_setting_one_tool_keeps_the_other_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path, "{exec: {max_calls: 3}}") == {
        **DEFAULTS,
        "exec": RateLimit(max_calls=3),
    }


def test_a_new_tool_limit_is_added_to_the_defaults(tmp_path: Path) -> None:
    got = _load(tmp_path, "{write_file: {max_calls: 5, window_seconds: 10}}")
    assert got == {**DEFAULTS, "write_file": RateLimit(max_calls=5, window_seconds=10.0)}


def test_an_empty_or_null_mapping_means_the_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path, "{}") == DEFAULTS
    assert RateLimitConfig().per_tool == DEFAULTS
    assert RateLimitConfig(per_tool={}).per_tool == DEFAULTS


def test_a_misspelt_tool_is_a_config_error_with_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, "{exce: {max_calls: 1}, web_fetch: {max_calls: 2}}")
    problems = [(p.path, p.message) for p in raised.value.problems]
    assert problems == [("tools.rate_limit.per_tool.exce", "unknown tool (did you mean 'exec'?)")]


def test_an_unrelated_name_lists_the_tools(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, "{zzz: {max_calls: 1}}")
    (problem,) = raised.value.problems
    assert problem.path == "tools.rate_limit.per_tool.zzz"
    assert problem.message == "unknown tool (tools: " + ", ".join(TOOL_NAMES) + ")"


def test_every_contract_tool_name_is_accepted(tmp_path: Path) -> None:
    listing = ", ".join(f"{name}: {{max_calls: 1}}" for name in TOOL_NAMES)
    assert set(_load(tmp_path, "{" + listing + "}")) == set(TOOL_NAMES)
