"""`autobot cron ...` through `add_cron_parser` and `cron_main`: every action, owner
filtering, `add` needs an owner, refused requests and unusable stores exit 1 with
nothing changed, and the command imports neither the gateway nor the LLM SDK."""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from autobot.config import LoadedConfig, load_config
from autobot.cron.arguments import add_cron_parser
from autobot.cron.command import cron_main
from autobot.cron.jobs import AgentTurn, AtSchedule, Command, CronSchedule, Job
from autobot.cron.store import CronStore

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="autobot")
    commands = parser.add_subparsers(dest="command", required=True)
    add_cron_parser(commands)
    return parser.parse_args(["cron", *argv])


def bot(tmp_path: Path, cron: str = "") -> LoadedConfig:
    settings = cron or "  timezone: Europe/Paris\n  min_interval_seconds: 120\n"
    (tmp_path / "config.yml").write_text(f"cron:\n{settings}")
    return load_config(tmp_path / "config.yml", {})


def cli(loaded: LoadedConfig, *argv: str, seed: int = 3) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cron_main(
        loaded, parse(*argv), out=out, err=err, clock=lambda: NOW, rng=random.Random(seed)
    )
    return code, out.getvalue(), err.getvalue()


def jobs(loaded: LoadedConfig) -> dict[str, Job]:
    with CronStore(loaded.cron_store) as store:
        return {job.id: job for job in store.load().jobs}


def added_id(out: str) -> str:
    first = out.splitlines()[0]
    assert first.startswith("Added job ")
    return first.removeprefix("Added job ").rstrip(".")


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    return bot(tmp_path)


def test_add_every_kind_of_schedule_and_action(loaded: LoadedConfig) -> None:
    code, out, err = cli(
        loaded, "add", "--owner", "telegram:42", "--message", "Stretch!", "--every", "3600"
    )
    assert (code, err) == (0, "")
    stretch = added_id(out)
    assert (
        "telegram:42" in out and "every 3600 s" in out and "next: 2026-01-01T02:00:00+01:00" in out
    )
    code, out, _ = cli(
        loaded,
        *("add", "--owner", "telegram:42", "--command", "df -h", "--name", "disk"),
        *("--cron", "0 9 * * mon-fri", "--tz", "America/New_York"),
        seed=4,
    )
    disk = added_id(out)
    code, out, _ = cli(
        loaded,
        *("add", "--owner", "slack:C123", "--message", "Standup in 5"),
        *("--at", "2026-01-05T09:55"),
        seed=5,
    )
    standup = added_id(out)
    stored = jobs(loaded)
    assert stored[stretch].action == AgentTurn(message="Stretch!")
    assert stored[stretch].name == "Stretch!"
    assert stored[disk].action == Command(command="df -h")
    assert stored[disk].schedule == CronSchedule(expr="0 9 * * mon-fri", tz="America/New_York")
    # without an offset, --at is read in cron.timezone (09:55 in Paris = 08:55 UTC)
    assert stored[standup].schedule == AtSchedule(at=NOW + 4 * 86400 + 8 * 3600 + 55 * 60)
    assert stat.S_IMODE(loaded.cron_store.stat().st_mode) == 0o600


def test_list_shows_every_owner_and_owner_filters(loaded: LoadedConfig) -> None:
    cli(loaded, "add", "--owner", "telegram:42", "--message", "mine", "--every", "600")
    cli(loaded, "add", "--owner", "telegram:43", "--message", "theirs", "--every", "600", seed=9)
    code, everything, _ = cli(loaded, "list")
    assert code == 0 and len(everything.splitlines()) == 2
    assert "telegram:42" in everything and "telegram:43" in everything
    code, only, _ = cli(loaded, "list", "--owner", "telegram:43")
    assert code == 0 and only.splitlines() == [everything.splitlines()[1]]
    code, none, _ = cli(loaded, "list", "--owner", "slack:U1")
    assert (code, none) == (0, "No scheduled jobs.\n")


def test_show_enable_disable_run_remove(loaded: LoadedConfig) -> None:
    _, out, _ = cli(loaded, "add", "--owner", "telegram:42", "--message", "water", "--every", "600")
    job_id = added_id(out)
    code, shown, _ = cli(loaded, "show", job_id)
    assert code == 0 and shown.startswith(f"Job {job_id}: water\nowner: telegram:42\n")
    code, out, _ = cli(loaded, "disable", job_id)
    assert code == 0 and out.startswith(f"Job {job_id} disabled.")
    assert jobs(loaded)[job_id].enabled is False
    code, _, err = cli(loaded, "run", job_id)
    assert code == 1 and err == f"autobot: job {job_id} is disabled; enable it first\n"
    assert cli(loaded, "enable", job_id)[0] == 0
    code, out, _ = cli(loaded, "run", job_id)
    assert code == 0 and "if no gateway runs, it runs when the gateway next starts" in out
    assert jobs(loaded)[job_id].next_run_at == NOW
    code, out, _ = cli(loaded, "remove", job_id)
    assert (code, out) == (0, f"Removed job {job_id} (water) of telegram:42.\n")
    assert jobs(loaded) == {}


def test_owner_scoped_actions_treat_another_owners_job_as_missing(loaded: LoadedConfig) -> None:
    _, out, _ = cli(loaded, "add", "--owner", "telegram:42", "--message", "x", "--every", "600")
    job_id = added_id(out)
    before = loaded.cron_store.read_bytes()
    for action in ("show", "disable", "enable", "run", "remove"):
        theirs = cli(loaded, action, job_id, "--owner", "telegram:43")
        missing = cli(loaded, action, "0badf00d", "--owner", "telegram:43")
        assert theirs == (1, "", f"autobot: no job '{job_id}'\n")
        assert missing == (1, "", "autobot: no job '0badf00d'\n")
    assert loaded.cron_store.read_bytes() == before
    assert cli(loaded, "show", job_id, "--owner", "telegram:42")[0] == 0


def test_add_requires_an_owner_and_a_valid_one(
    loaded: LoadedConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as no_owner:
        parse("add", "--message", "hi", "--every", "600")
    assert no_owner.value.code == 2
    assert "the following arguments are required: --owner" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_owner:
        parse("add", "--owner", "carrier-pigeon:7", "--message", "hi", "--every", "600")
    assert bad_owner.value.code == 2
    assert "'carrier-pigeon' is not a channel" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse("add", "--owner", "telegram:42", "--message", "hi", "--command", "ls", "--every", "9")
    assert not loaded.cron_store.exists()


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--every", "60"], "every_seconds must be at least 120 (cron.min_interval_seconds)"),
        (["--cron", "* * * * *"], "can fire 60 s apart; the minimum interval is 120 s"),
        (["--at", "2025-06-01T10:00"], "is in the past"),
        (["--cron", "@daily", "--tz", "Atlantis/Capital"], "is not a known time zone"),
        (["--every", "600", "--tz", "UTC"], "tz applies to cron_expr and at"),
    ],
)
def test_a_refused_schedule_exits_1_and_writes_nothing(
    loaded: LoadedConfig, argv: list[str], error: str
) -> None:
    code, out, err = cli(loaded, "add", "--owner", "telegram:42", "--message", "hi", *argv)
    assert (code, out) == (1, "")
    assert err.startswith("autobot: ") and error in err and err.count("\n") == 1
    assert not loaded.cron_store.exists()


def test_jobs_per_owner_limit(tmp_path: Path) -> None:
    loaded = bot(tmp_path, "  max_jobs_per_owner: 1\n")
    assert cli(loaded, "add", "--owner", "telegram:42", "--message", "a", "--every", "600")[0] == 0
    code, _, err = cli(loaded, "add", "--owner", "telegram:42", "--message", "b", "--every", "600")
    assert code == 1 and "already has 1 scheduled jobs" in err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "is unusable"),
        (json.dumps({"version": 2, "jobs": []}).encode(), "is unusable"),
    ],
)
@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["show", "0badf00d"],
        ["add", "--owner", "telegram:42", "--message", "hi", "--every", "600"],
        ["remove", "0badf00d"],
    ],
)
def test_an_unusable_store_is_refused_naming_it_and_left_untouched(
    loaded: LoadedConfig, content: bytes, problem: str, argv: list[str]
) -> None:
    loaded.cron_store.write_bytes(content)
    code, out, err = cli(loaded, *argv)
    assert (code, out) == (1, "")
    assert err.startswith(f"autobot: cron store {loaded.cron_store} {problem}")
    assert loaded.cron_store.read_bytes() == content


def test_a_disabled_cron_section_is_noted(tmp_path: Path) -> None:
    loaded = bot(tmp_path, "  enabled: false\n")
    code, out, _ = cli(loaded, "add", "--owner", "telegram:42", "--message", "hi", "--every", "600")
    assert code == 0
    assert out.endswith(
        "Note: cron.enabled is false in config.yml: no job runs until it is true.\n"
    )


_PROBE = """
import io, json, sys
from autobot.config import load_config
from autobot.cron.arguments import add_cron_parser
from autobot.cron.command import cron_main
import argparse
parser = argparse.ArgumentParser()
add_cron_parser(parser.add_subparsers(dest="command"))
args = parser.parse_args(["cron", *sys.argv[2:]])
out = io.StringIO()
code = cron_main(load_config(sys.argv[1], {}), args, out=out, err=sys.stderr)
heavy = [m for m in ("anthropic", "autobot.app", "autobot.agent.router", "autobot.sandbox.pool")
         if m in sys.modules]
print(json.dumps([code, heavy, out.getvalue()]))
"""


def test_the_command_imports_neither_the_gateway_nor_the_sdk(loaded: LoadedConfig) -> None:
    argv = ["add", "--owner", "telegram:42", "--message", "hi", "--every", "600"]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(loaded.path), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stderr
    code, heavy, printed = json.loads(done.stdout)
    assert (code, heavy) == (0, [])
    assert printed.startswith("Added job ")
