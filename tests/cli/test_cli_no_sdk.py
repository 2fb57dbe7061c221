"""Commands that talk to no LLM import neither the Anthropic SDK (~1 s and ~50 MB)
nor the gateway, its composition root or its HTTP server (issue 15: every
command took 0.6-1.5 s; the budget is 0.35 s, see scripts/bench_cli.py).

Each command runs in a fresh interpreter through the console script's own
entry (`autobot.entry.run`), then reports its exit code and which of those
modules (or their submodules) it imported. The exit codes show the commands
really did their work (a bot created, checked, its pairings listed). That the
report does see the SDK when it is loaded is checked in
tests/llm/test_llm_anthropic_lazy.py; that it sees the gateway, here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY_MODULES = (
    "anthropic",
    "httpx2",
    "autobot.llm.anthropic_sdk",
    "autobot.commands",
    "autobot.gateway",
    "autobot.app",
    "hypercorn",
)
KEY = "sk-ant-api03-no-sdk-test-key-0123456789"

_RUN_AND_REPORT = f"""
import json, os, sys
from autobot.entry import run
try:
    code = run()
except SystemExit as exc:  # argparse: --help, --version
    code = exc.code
loaded = sorted({{
    heavy
    for heavy in {HEAVY_MODULES!r}
    for name in sys.modules
    if name == heavy or name.startswith(heavy + ".")
}})
with open(os.environ["SDK_PROBE_REPORT"], "w") as report:
    json.dump({{"code": code, "loaded": loaded}}, report)
"""


def _autobot(tmp_path: Path, *args: str) -> tuple[int, list[str], str]:
    """(exit code, heavy modules imported, stdout) of `autobot ARGS` in a fresh interpreter."""
    report = tmp_path / "sdk-probe.json"
    report.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT, *args],
        cwd=tmp_path,
        env={**os.environ, "SDK_PROBE_REPORT": str(report)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(report.read_text())
    return seen["code"], seen["loaded"], done.stdout


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bot made by `autobot new`, its key filled in: the doctor finds no error."""
    parent = tmp_path_factory.mktemp("no-sdk")
    code, loaded, out = _autobot(parent, "new", "bot")
    assert (code, loaded) == (0, [])
    assert f"--config {parent / 'bot' / 'config.yml'} doctor" in out
    with (parent / "bot" / ".env").open("a") as env:
        env.write(f"ANTHROPIC_API_KEY={KEY}\n")
    return parent / "bot"


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--help"], 0, "usage: autobot"),
        (["--version"], 0, "autobot "),
        (["gateway", "--help"], 0, "usage: autobot gateway"),
        (["agent", "--help"], 0, "usage: autobot agent"),
        (["demo", "--help"], 0, "usage: autobot demo"),
        (["doctor"], 0, "LLM: provider 'anthropic', model 'claude-sonnet-4-5'"),
        (["doctor", "--json"], 0, '"sandbox_backend"'),
        (["pairing", "list"], 0, "No pending pairing codes and no approved senders."),
        (["cron", "list"], 0, "No scheduled jobs."),
        (["service", "generate", "--user", "autobot-bot"], 0, "[Service]"),
        (["status"], 0, "Cron:       0 jobs"),
        (["doctor", "--fix"], 0, "No safe fix to apply."),
    ],
)
def test_command_imports_neither_the_sdk_nor_the_gateway(
    bot: Path, args: list[str], code: int, shown: str
) -> None:
    ran = _autobot(bot.parent, "--config", str(bot / "config.yml"), *args)
    assert ran[:2] == (code, [])
    assert shown in ran[2]


def test_new_imports_neither_the_sdk_nor_the_gateway(tmp_path: Path) -> None:
    code, loaded, _ = _autobot(tmp_path, "new", "another", "--channel", "telegram")
    assert (code, loaded) == (0, [])
    assert (tmp_path / "another" / "config.yml").is_file()


def test_the_report_sees_the_gateway_when_the_gateway_command_loads_it(tmp_path: Path) -> None:
    assert _autobot(tmp_path, "new", "keyless")[:2] == (0, [])
    # no key: the gateway's start-up gate refuses (exit 1) once the command is loaded
    code, loaded, _ = _autobot(
        tmp_path, "--config", str(tmp_path / "keyless" / "config.yml"), "gateway"
    )
    assert code == 1
    assert {"autobot.app", "autobot.commands"} <= set(loaded)
    assert "anthropic" not in loaded
