"""The global `--config` before the command or after it (issue 15: people type both).

Every command that reads a bot is run both ways on the same missing config
file: the exit code and every byte printed are the same, and the path given
is the one used (named in the output). A real bot is then checked both ways.
Two different paths are a usage error (exit 2) wherever they are given.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from autobot.cli import invoked_as, main
from autobot.scaffold.create import create_bot

COMMANDS = [
    ["doctor"],
    ["doctor", "--strict", "--json"],
    ["gateway"],
    ["agent", "-m", "hi"],
    ["demo", "--once"],
    ["pairing", "list"],
    ["pairing", "approve", "telegram", "K7M3Q9XA"],
    ["pairing", "revoke", "telegram", "6666"],
    ["cron", "list"],
    ["cron", "list", "--owner", "telegram:42"],
    ["cron", "remove", "0a1b2c3d"],
    ["doctor", "--fix"],
    ["service", "generate"],
    ["status"],
    ["status", "--json"],
]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_after_the_command_is_the_same_as_before_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    missing = str(tmp_path / "elsewhere" / "config.yml")
    before = _run(["--config", missing, *command], capsys)
    after = _run([*command, "--config", missing], capsys)
    assert after == before
    code, out, err = after
    assert code == 1
    assert missing in out + err
    assert "Traceback" not in out + err


def test_between_a_command_and_its_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nowhere.yml")
    expected = _run(["--config", missing, "pairing", "list"], capsys)
    assert _run(["pairing", "--config", missing, "list"], capsys) == expected
    assert _run(["pairing", "list", f"--config={missing}"], capsys) == expected


def test_a_real_bot_is_checked_the_same_either_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = create_bot(tmp_path / "bot", interactive=False)
    with bot.env_file.open("a") as env:
        env.write("ANTHROPIC_API_KEY=sk-ant-api03-config-option-test-0123456789\n")
    monkeypatch.chdir(tmp_path)  # the default ./config.yml is not this bot's
    config = str(bot.config_file)
    before = _run(["--config", config, "doctor", "--json"], capsys)
    after = _run(["doctor", "--json", "--config", config], capsys)
    assert before[0] == after[0] == 0
    assert after[1] == before[1] and '"ok": true' in after[1]


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "a.yml", "doctor", "--config", "b.yml"],
        ["doctor", "--config", "a.yml", "--config", "b.yml"],
        ["--config", "a.yml", "--config", "b.yml", "doctor"],
        ["pairing", "--config", "a.yml", "list", "--config", "b.yml"],
        ["--config", "a.yml", "pairing", "list", "--config=b.yml"],
        ["--config", "a.yml", "pairing", "--config", "b.yml", "list", "--config", "a.yml"],
    ],
    ids=" ".join,
)
def test_two_different_paths_are_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--config" in err and "given twice ('a.yml' and 'b.yml'): give it once" in err


def test_the_same_path_twice_is_that_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "twice.yml")
    expected = _run(["--config", missing, "pairing", "list"], capsys)
    assert _run(["--config", missing, "pairing", "list", "--config", missing], capsys) == expected
    assert expected[0] == 1 and missing in expected[2]


@pytest.mark.parametrize(
    "command", [["new"], ["doctor"], ["gateway"], ["agent"], ["demo"], ["pairing", "list"]]
)
def test_every_command_s_help_offers_config(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert "--config PATH" in capsys.readouterr().out


# -- how `autobot new` names the program in the command it prints --------------------


def test_invoked_as_names_a_program_the_shell_can_run(tmp_path: Path) -> None:
    venv_bin = tmp_path / "my venv" / "bin"
    venv_bin.mkdir(parents=True)
    script = venv_bin / "autobot"
    script.write_text("#!/bin/sh\n")
    other = tmp_path / "other-autobot"
    other.write_text("#!/bin/sh\n")
    python = "/usr/bin/python3"
    # PATH finds this very program (an activated venv): its name is enough
    assert invoked_as(str(script), on_path=str(script), executable=python) == "autobot"
    # not on PATH, or PATH finds another one: the path it was run by, shell-quoted
    assert invoked_as(str(script), on_path=None, executable=python) == f"'{script}'"
    assert invoked_as(str(script), on_path=str(other), executable=python) == f"'{script}'"
    assert invoked_as(".venv/bin/autobot", on_path=None, executable=python) == ".venv/bin/autobot"
    # python -m autobot
    main_py = "/src/autobot/__main__.py"
    assert invoked_as(main_py, on_path=None, executable=python) == "/usr/bin/python3 -m autobot"
    # anything else (a test runner calling main()): the program's name
    assert invoked_as("/usr/bin/pytest", on_path=None, executable=python) == "autobot"


def test_new_prints_the_check_with_the_program_as_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a terminal: no questions
    monkeypatch.setattr("sys.argv", [".venv/bin/autobot", "new", "my bot"])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["new", "my bot"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert (
        last == f"Then check it: .venv/bin/autobot --config '{tmp_path}/my bot/config.yml' doctor"
    )
