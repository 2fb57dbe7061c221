"""The command line: exit codes and messages, never a traceback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from autobot.cli import main

MALFORMED = {
    "unknown key": ("gatway:\n  port: 1\n", "gatway: unknown key (did you mean 'gateway'?)"),
    "wrong type": ("gateway:\n  port: eighty\n", "gateway.port"),
    "bad enum": ("tools:\n  sandbox: firejail\n", "must be one of auto, bubblewrap, docker, none"),
    "yaml syntax": ("agents: [unclosed\n", "line"),
    "not a mapping": ("- a\n- b\n", "mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
@pytest.mark.parametrize("command", [["agent", "-m", "hi"], ["doctor"], ["gateway"]])
def test_malformed_config_exits_1_with_the_problem_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, command: list[str]
) -> None:
    text, expected = MALFORMED[case]
    config = tmp_path / "config.yml"
    config.write_text(text)
    assert main(["--config", str(config), *command]) == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert expected in output
    assert "Traceback" not in output


def test_missing_config_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "nope.yml"), "agent", "-m", "hi"]) == 1
    assert "nope.yml" in capsys.readouterr().err


def test_new_creates_a_private_bot_and_refuses_an_existing_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    target = tmp_path / "mybot"
    assert main(["new", str(target), "--channel", "telegram"]) == 0
    assert "Fill in" in capsys.readouterr().out
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / ".env").stat().st_mode) == 0o600
    before = (target / "config.yml").read_bytes()
    assert main(["new", str(target)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (target / "config.yml").read_bytes() == before


def test_unknown_provider_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["new", "x", "--provider", "gemini"])
    assert exited.value.code == 2
    assert "invalid choice: 'gemini'" in capsys.readouterr().err
