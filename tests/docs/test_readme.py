"""The README stays true: its configuration example is config/config.yml, verbatim,
and the commands it promises exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from autobot.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_config_example_is_the_shipped_example_file() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    example = (ROOT / "config" / "config.yml").read_text()
    assert example in blocks


def test_the_two_setup_commands_exist_and_are_executable() -> None:
    for script in ("scripts/run", "scripts/test", "scripts/setup"):
        assert f"{script}" in README or script == "scripts/setup"
        assert os.access(ROOT / script, os.X_OK), script


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/test" in ci and "scripts/test" in README


def test_every_command_in_the_table_is_a_cli_command(capsys: pytest.CaptureFixture[str]) -> None:
    documented = re.findall(r"^\| `autobot (\w+)", README, re.MULTILINE)
    assert documented == ["new", "doctor", "gateway", "agent", "demo"]
    for command in documented:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        assert f"usage: autobot {command}" in capsys.readouterr().out
