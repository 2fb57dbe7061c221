"""Hostile config files through the real command line (a child process each):
`doctor`, `gateway` and `agent` exit 1 with the problem on one line naming
config.yml, never a traceback, a hang, a MemoryError or the file's content."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from autobot.config.load import MAX_CONFIG_BYTES

# Only a guard against the old behaviour (a FIFO hung `agent` forever, /dev/zero
# read until memory ran out); each run takes about a second. Never asserted.
HANG_GUARD_SECONDS = 120


def _deep(path: Path) -> None:
    path.write_text("agents: " + "[" * 20_000 + "]" * 20_000 + "\n")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _passwd(path: Path) -> None:
    path.symlink_to("/etc/passwd")


def _huge(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(8 << 30)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "20,000-deep YAML": (_deep, "nested more than 32 levels deep"),
    "FIFO": (_fifo, "is a FIFO (named pipe), not a regular file"),
    "/dev/zero": (_dev_zero, "is a character device, not a regular file"),
    "/etc/passwd": (_passwd, "the top level must be a mapping of sections"),
    "8 GiB file": (_huge, f"is larger than the limit of {MAX_CONFIG_BYTES:,} bytes"),
}
COMMANDS = {"doctor": ["doctor"], "gateway": ["gateway"], "agent": ["agent", "-m", "hi"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_config_is_one_clear_line(tmp_path: Path, case: str, command: str) -> None:
    make, reason = CASES[case]
    bot = tmp_path / "bot"
    (bot / "workspace").mkdir(parents=True)
    config = bot / "config.yml"
    make(config)
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "autobot.cli", "--config", str(config), *COMMANDS[command]],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "Error:" not in output
    problem_lines = [line for line in output.splitlines() if reason in line]
    assert len(problem_lines) == 1, output
    assert "config.yml" in problem_lines[0]
    if command != "doctor":
        assert f"autobot: the {command} refuses to start" in done.stderr
    first_user = Path("/etc/passwd").read_text().split(":", 1)[0]
    assert f"{first_user}:x" not in output
    assert not (bot / "sessions").exists() and not (bot / "logs").exists()
