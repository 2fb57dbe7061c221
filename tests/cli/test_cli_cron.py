"""`autobot cron` through the real command line: the job's options never clash
with the command's own arguments (a job `--command` is not the autobot command)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autobot.cli import main
from autobot.scaffold.create import create_bot


@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(create_bot(tmp_path / "bot", interactive=False).config_file)


def test_add_list_and_remove_a_command_job(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    add = ["cron", "add", "--owner", "telegram:42", "--command", "df -h /", "--every", "3600"]
    assert main(["--config", config, *add]) == 0
    added = re.fullmatch(r"Added job ([0-9a-f]{8})\.\n(.*)\n", capsys.readouterr().out)
    assert added is not None
    job_id = added[1]
    assert main(["cron", "list", "--config", config]) == 0
    assert capsys.readouterr().out == added[2] + "\n"
    assert main(["--config", config, "cron", "remove", job_id]) == 0
    assert main(["--config", config, "cron", "list"]) == 0
    assert "No scheduled jobs." in capsys.readouterr().out


def test_add_an_agent_turn_at_a_time(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["cron", "add", "--owner", "telegram:42", "--message", "Call Sam"]
    assert main(["--config", config, *args, "--at", "2999-12-24T17:30", "--tz", "UTC"]) == 0
    assert "Call Sam" in capsys.readouterr().out
