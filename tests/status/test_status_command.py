"""`autobot status [--json]`: the screen, the JSON object, and what it never does."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autobot.status.arguments import add_status_parser
from autobot.status.command import status_main
from autobot.status.probe import GatewayAnswer, Sample

KEY = "sk-ant-api03-" + "K" * 40
TOKEN = "123456:" + "T" * 35


def make_bot(tmp_path: Path) -> Path:
    """A bot with Telegram and Slack enabled, its secrets in .env."""
    bot = tmp_path / "mybot"
    (bot / "workspace").mkdir(parents=True)
    config = {
        "providers": {"anthropic": {"api_key": "${ANTHROPIC_API_KEY}"}},
        "channels": {
            "telegram": {"enabled": True, "token": "${TELEGRAM_TOKEN}", "allow_from": ["42"]},
        },
        "gateway": {"host": "127.0.0.1", "port": 18999},
    }
    (bot / "config.yml").write_text(yaml.safe_dump(config))
    (bot / ".env").write_text(f"ANTHROPIC_API_KEY={KEY}\nTELEGRAM_TOKEN={TOKEN}\n")
    (bot / ".env").chmod(0o600)
    (bot / "sessions").mkdir()
    (bot / "sessions" / "telegram_42-00.jsonl").write_text("{}\n")
    (bot / "logs").mkdir()
    (bot / "logs" / "autobot.log").write_text(
        "2026-11-25T07:53:01.000Z ERROR [channel:telegram] poll failed "
        f"url=https://api.telegram.org/bot{TOKEN}/getUpdates \x1b[2Jgone\n"
    )
    return bot / "config.yml"


def running(port: int = 18999) -> GatewayAnswer:
    return GatewayAnswer(
        url=f"http://127.0.0.1:{port}",
        running=True,
        healthy=True,
        samples={
            "autobot_channel_up": (Sample(labels={"channel": "telegram"}, value=1.0),),
            "autobot_sessions_active": (Sample(labels={}, value=1.0),),
        },
    )


def run(config: Path, answer: GatewayAnswer, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="autobot")
    add_status_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["status", *argv])
    asked: list[tuple[str, int]] = []

    async def ask(host: str, port: int) -> GatewayAnswer:
        asked.append((host, port))
        return answer

    out, err = io.StringIO(), io.StringIO()
    code = status_main(config, args, environ={}, out=out, err=err, ask=ask)
    assert asked == [("127.0.0.1", 18999)]
    assert KEY not in out.getvalue() and TOKEN not in out.getvalue()
    return code, out.getvalue(), err.getvalue()


def test_one_screen_says_what_the_bot_is(tmp_path: Path) -> None:
    config = make_bot(tmp_path)
    code, out, err = run(config, running())
    assert (code, err) == (0, "")
    bot = config.parent
    assert out == (
        f"Bot:        {bot}\n"
        f"Config:     {config}\n"
        "Model:      anthropic/claude-sonnet-4-5 (provider anthropic)\n"
        "Gateway:    running at http://127.0.0.1:18999, healthy\n"
        "Channels:   telegram connected\n"
        "Cron:       0 jobs (0 enabled)\n"
        "Sessions:   1 stored, 1 active\n"
        "Last errors (oldest first):\n"
        "  2026-11-25T07:53:01.000Z [channel:telegram] poll failed "
        "url=https://api.telegram.org/bot[REDACTED]/getUpdates \\x1b[2Jgone\n"
    )


def test_a_gateway_that_does_not_run_leaves_the_channels_unknown(tmp_path: Path) -> None:
    config = make_bot(tmp_path)
    down = GatewayAnswer(
        url="http://127.0.0.1:18999", running=False, detail="nothing listens there"
    )
    code, out, _ = run(config, down)
    assert code == 0
    assert (
        "Gateway:    not running (no gateway at http://127.0.0.1:18999: nothing listens there)\n"
        in out
    )
    assert "Channels:   telegram unknown\n" in out
    assert "Sessions:   1 stored\n" in out


def test_json_has_the_same_facts(tmp_path: Path) -> None:
    config = make_bot(tmp_path)
    code, out, _ = run(config, running(), "--json")
    assert code == 0
    document = json.loads(out)
    assert document["gateway"] == {
        "url": "http://127.0.0.1:18999",
        "running": True,
        "healthy": True,
        "problems": [],
        "detail": None,
    }
    assert document["channels"] == [{"name": "telegram", "connected": True}]
    assert document["cron"] == {"enabled": True, "jobs": 0, "enabled_jobs": 0}
    assert document["sessions"] == {"active": 1, "stored": 1}
    assert (document["model"], document["provider"]) == ("anthropic/claude-sonnet-4-5", "anthropic")
    [error] = document["last_errors"]
    assert error["source"] == "channel:telegram"
    assert "[REDACTED]" in error["message"] and "\x1b" not in error["message"]


def test_an_unusable_provider_is_said(tmp_path: Path) -> None:
    config = make_bot(tmp_path)
    (config.parent / ".env").write_text(f"TELEGRAM_TOKEN={TOKEN}\n")
    _, out, _ = run(config, running())
    assert (
        "Model:      anthropic/claude-sonnet-4-5 (provider anthropic): model "
        "'anthropic/claude-sonnet-4-5' needs provider 'anthropic': set "
        "providers.anthropic.api_key\n"
    ) in out


def test_a_config_that_does_not_load_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = make_bot(tmp_path)
    config.write_text("agents: [\n")
    out, err = io.StringIO(), io.StringIO()
    code = status_main(config, argparse.Namespace(json=False), environ={}, out=out, err=err)
    assert (code, out.getvalue()) == (1, "")
    assert err.getvalue().startswith(f"autobot: {config}")


def test_status_imports_neither_the_gateway_nor_an_sdk(tmp_path: Path) -> None:
    config = make_bot(tmp_path)
    probe = (
        "import sys, argparse, io; from pathlib import Path\n"
        "from autobot.status.command import status_main\n"
        f"code = status_main(Path({str(config)!r}), argparse.Namespace(json=True), environ={{}}, "
        "out=io.StringIO(), err=sys.stderr)\n"
        "heavy = ('anthropic', 'httpx2', 'autobot.app', 'autobot.commands', 'autobot.gateway', "
        "'autobot.agent', 'autobot.llm.anthropic_sdk', 'autobot.sandbox.pool')\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in heavy or "
        "any(m == h or m.startswith(h + '.') for h in heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (0, "0 []\n"), done.stderr


@pytest.mark.parametrize("argv", [["status", "--jsn"], ["status", "extra"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="autobot")
    add_status_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(argv)
    assert exited.value.code == 2
