"""The CLI start-up benchmark (`scripts/bench_cli.py`).

The pure parts are tested directly; the whole benchmark runs once with
`--runs 1` against the real `autobot` executable. Nothing asserts a duration
or a size that depends on the machine: only that every measured command
worked, that the table has a row per command with positive figures and a
verdict, and that the baseline is the ratios' unit.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from bench_cli import (  # noqa: E402
    COMMANDS,
    GOAL_MB,
    GOAL_SECONDS,
    Figures,
    listed_commands,
    main,
    render,
    verdict,
)

from autobot.cli import main as autobot_main  # noqa: E402

RUN_BOUND = 600.0  # 1 warm-up + 1 run of each command, on a loaded 2-core machine


def test_listed_commands_are_the_ones_argparse_shows(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        autobot_main(["--help"])
    shown = listed_commands(capsys.readouterr().out)
    assert {"new", "doctor", "gateway", "demo", "agent", "pairing"} <= shown
    assert "--config" not in shown and "COMMAND" not in shown
    with pytest.raises(SystemExit):
        autobot_main(["pairing", "--help"])
    assert listed_commands(capsys.readouterr().out) == {"list", "approve", "revoke"}


def test_verdict_names_what_is_over_the_goal() -> None:
    assert verdict(Figures(label="x", seconds=GOAL_SECONDS, peak_mb=GOAL_MB)) == "met"
    assert verdict(Figures(label="x", seconds=0.5, peak_mb=12.0)) == "NOT MET: 0.500 s > 0.35 s"
    assert verdict(Figures(label="x", seconds=0.1, peak_mb=50.0)) == "NOT MET: 50.0 MB > 40 MB"


def test_the_table_puts_each_command_beside_the_baseline() -> None:
    table = render(
        Figures(label="python -c pass", seconds=0.02, peak_mb=10.0),
        [Figures(label="doctor", seconds=0.3, peak_mb=35.0)],
    ).splitlines()
    assert table[1].split() == ["python", "-c", "pass", "0.020", "1.00x", "10.0", "1.00x"]
    assert table[2].split() == ["doctor", "0.300", "15.00x", "35.0", "3.50x", "met"]


def test_the_measured_commands_are_the_non_llm_ones() -> None:
    labels = [command.label for command in COMMANDS]
    assert labels == [
        "--help",
        "new",
        "doctor",
        "pairing list",
        "cron list",
        "service generate",
        "status",
    ]
    for command in COMMANDS:
        assert not {"agent", "gateway", "demo"} & set(command.words)


def test_bad_runs_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--runs", "0"])
    assert exited.value.code == 2
    assert "--runs must be at least 1, got 0" in capsys.readouterr().err


def test_one_run_of_each_command_against_the_real_program() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_cli.py"), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=RUN_BOUND,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    help_page = subprocess.run(
        [sys.executable, "-m", "autobot", "--help"], capture_output=True, text=True, check=True
    ).stdout
    present = listed_commands(help_page)
    measured = []
    for command in COMMANDS:
        if command.needs and command.needs[0] not in present:
            assert any(
                line.startswith(f"skipped: {command.label} (`autobot --help` lists no")
                for line in lines
            ), done.stdout
        else:
            measured.append(command.label)
    assert {"--help", "new", "doctor", "pairing list"} <= set(measured)
    header = next(index for index, line in enumerate(lines) if line.startswith("command "))
    baseline = lines[header + 1].split()
    assert baseline[:3] == ["python", "-c", "pass"] and baseline[4] == baseline[6] == "1.00x"
    rows = lines[header + 2 : header + 2 + len(measured)]
    for label, row in zip(measured, rows, strict=True):
        assert row.startswith(label + " ")
        figures = re.fullmatch(
            rf"{re.escape(label)}\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x\s+(met|NOT MET: .+)",
            row,
        )
        assert figures, row
        seconds, _, peak_mb, _, _ = figures.groups()
        assert float(seconds) > 0 and float(peak_mb) > 0
    assert lines[-1] == "goal met by every measured command" or lines[-1].startswith(
        "goal NOT MET by: "
    )
