"""Every command line the program tells a user to run works as printed (issue 15).

`autobot new`'s "Then check it" line is run as printed, through a shell, in a
fresh process, both with autobot on PATH (an activated venv) and without it
(called by its path); before, it said `autobot doctor --config ...`, which
exited 2. `scripts/run`'s hints are given back to the script, whose own parser
must accept them. The commands named inside the doctor's and the pairing
code's messages parse with the real parser.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autobot.channels.access import AccessPolicy, Chat, Sender, decide_access
from autobot.channels.pairing import PairingBook, PairingError, revoke_sender
from autobot.cli import main, parse
from autobot.config.schema import DmPolicy

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "scripts" / "run"
AUTOBOT = Path(sys.executable).parent / "autobot"  # the console script scripts/setup installs
BOUND = 180.0  # scripts/setup's check and two doctor runs on a loaded machine

pytestmark = pytest.mark.skipif(
    not AUTOBOT.exists(), reason="the autobot console script is not installed beside python"
)


def _shell(line: str, *, cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    """`line` as a user's shell runs it, with `path` as PATH."""
    return subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        env={**os.environ, "PATH": path},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )


def _check_line(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("Then check it: ")]
    return line.removeprefix("Then check it: ")


@pytest.mark.parametrize("on_path", [False, True], ids=["by its path", "on PATH"])
def test_new_s_check_runs_as_printed(tmp_path: Path, on_path: bool) -> None:
    system_path = "/usr/local/bin:/usr/bin:/bin"
    path = f"{AUTOBOT.parent}:{system_path}" if on_path else system_path
    typed = "autobot" if on_path else str(AUTOBOT)
    made = _shell(f"{shlex.quote(typed)} new 'my bot'", cwd=tmp_path, path=path)
    assert made.returncode == 0, made.stderr
    check = _check_line(made.stdout)
    config = tmp_path / "my bot" / "config.yml"
    expected_program = "autobot" if on_path else shlex.quote(str(AUTOBOT))
    assert check == f"{expected_program} --config {shlex.quote(str(config))} doctor"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = _shell(check, cwd=elsewhere, path=path)
    # a fresh bot has no LLM key yet: the doctor's report, with that one error
    assert checked.returncode == 1, checked.stderr
    assert "Summary: 1 error, " in checked.stdout
    assert "set providers.anthropic.api_key" in checked.stdout


def _run_script(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUN), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOUND,
        check=False,
    )


def test_scripts_run_hints_run_as_printed(tmp_path: Path) -> None:
    bot = tmp_path / "bot with spaces"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    venv_bin = str(ROOT / ".venv" / "bin")  # not activated: scripts/run calls autobot by path
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if p.rstrip("/") != venv_bin)
    # An LLM key in the environment: the doctor passes, and --once (for the demo only)
    # is refused before anything runs. Before that, scripts/run made the bot (a
    # relative BOT_DIR is taken from where scripts/run was called).
    keyed = {**env, "ANTHROPIC_API_KEY": "sk-ant-api03-printed-commands-0123456789"}
    done = _run_script("--once", bot.name, cwd=tmp_path, env=keyed)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (bot / "config.yml").is_file()
    hints = [_check_line(done.stdout)]
    refusal = done.stderr.splitlines()[-1]
    match = re.fullmatch(r"run (.+) \(without --once\) to start the gateway\.", refusal)
    assert match, done.stderr
    hints.append(match.group(1))
    # a broken config: the report once, then what to run after fixing it
    (bot / "config.yml").write_text((bot / "config.yml").read_text() + "gatway:\n  port: 1\n")
    done = _run_script(str(bot), cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stdout.count("Summary: ") == 1
    assert "gatway: unknown key (did you mean 'gateway'?)" in done.stdout
    match = re.fullmatch(
        r"scripts/run: fix the errors above, then run (.+) again\.", done.stderr.splitlines()[-1]
    )
    assert match, done.stderr
    hints.append(match.group(1))

    check, *script_lines = hints
    # autobot new's check, as scripts/run ran it: absolute, so it runs from anywhere
    assert check.startswith(shlex.quote(str(ROOT / ".venv" / "bin" / "autobot")) + " ")
    ran = _shell(check, cwd=Path("/"), path="/usr/bin:/bin")
    assert ran.returncode == 1  # the config is broken by now: the doctor says so
    assert "Summary: 1 error, " in ran.stdout
    for line in script_lines:
        words = shlex.split(line)
        assert Path(words[0]).resolve() == RUN and words[1:] == [str(bot)]
        # the script's own parser takes them (ARGS --help prints the usage only if they parse)
        parsed = _shell(f"{line} --help", cwd=Path("/"), path=os.environ["PATH"])
        assert (parsed.returncode, parsed.stdout) == (0, "usage: scripts/run [--once] [BOT_DIR]\n")


# -- commands named inside messages -------------------------------------------------


def _parses(command: str) -> None:
    words = shlex.split(command)
    assert words[0] == "autobot", command
    assert parse(words[1:]).command == words[1]


def test_the_doctor_s_missing_config_fix_names_a_command_that_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--config", str(tmp_path / "none.yml")]) == 1
    out = capsys.readouterr().out
    (named,) = re.findall(r"`(autobot [^`]+)`", out)
    assert named == "autobot new NAME"
    _parses(named.replace("NAME", "mybot"))


def test_a_missing_config_outside_the_doctor_names_a_command_that_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pairing", "list", "--config", str(tmp_path / "none.yml")]) == 1
    err = capsys.readouterr().err
    (named,) = re.findall(r"`(autobot [^`]+)`", err)
    _parses(named.replace("NAME", "mybot"))


def test_an_unreadable_pairing_store_names_a_command_that_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", str(tmp_path / "bot")]) == 0
    (tmp_path / "bot" / "pairing.json").write_text("{not json")
    (tmp_path / "bot" / "pairing.json").chmod(0o600)
    capsys.readouterr()
    main(["doctor", "--config", str(tmp_path / "bot" / "config.yml")])
    out = capsys.readouterr().out
    assert "The pairing store cannot be read" in out
    assert "(autobot pairing list shows it)" in out
    _parses("autobot pairing list")


def test_the_pairing_code_message_names_the_owner_s_exact_command() -> None:
    policy = AccessPolicy.from_settings("telegram", allow_from=[], dm_policy=DmPolicy.PAIRING)
    decision = decide_access(
        policy,
        Sender(id="6666", username="mallory"),
        Chat(id="6666"),
        PairingBook(),
        now=time.time(),
        draw_code=lambda: "K7M3Q9XA",
    )
    assert decision.text is not None
    command = decision.text.split("runs: ", 1)[1]
    assert command == "autobot pairing approve telegram K7M3Q9XA"
    _parses(command)


def test_a_refused_revoke_names_a_command_that_parses() -> None:
    with pytest.raises(PairingError) as refused:
        revoke_sender(PairingBook(), channel="telegram", sender_id="6666", now=0.0)
    (named,) = re.findall(r"`(autobot [^`]+)`", str(refused.value))
    _parses(named)
