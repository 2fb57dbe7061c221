"""What a new user reads when the config is broken (issue 15): a YAML syntax error
names its line and column and is not told to fix "the listed keys" (there are
none); key problems are; the summary counts in the singular where it is one."""

from __future__ import annotations

from pathlib import Path

import pytest

from autobot.cli import main


def _doctor(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["doctor", "--config", str(config)]) == 1
    return capsys.readouterr().out


def test_a_yaml_syntax_error_says_where_and_to_fix_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yml"
    config.write_text("agents:\n  defaults:\n    model: [unclosed\n")
    out = _doctor(config, capsys)
    assert "  - config.yml cannot be loaded: invalid YAML at line 4, column 1: " in out
    assert f"    fix: Fix {config}\n" in out
    assert "listed keys" not in out
    assert "Summary: 1 error, " in out


def test_key_problems_are_the_listed_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yml"
    config.write_text("gatway:\n  port: 1\n")
    out = _doctor(config, capsys)
    assert "gatway: unknown key (did you mean 'gateway'?)" in out
    assert f"    fix: Fix the listed keys in {config}\n" in out
