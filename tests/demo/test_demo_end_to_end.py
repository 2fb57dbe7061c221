"""`demo` on a bot made by `autobot new`: the real tree, Telegram channel,
sandbox, SSRF guard and log, against the loopback Bot API and model stand-ins.

Real processes (bubblewrap workers, an HTTP server): generous `fail_after`
bounds, no durations asserted.
"""

from __future__ import annotations

import io
import os
import random
import re
import signal
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
import trio
import yaml

from autobot.demo import demo
from autobot.demo.provider import demo_key
from autobot.demo.scenario import MALLORY, TEAM, demo_token
from autobot.scaffold.create import create_bot
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.gateway_process import free_port

RUN_BOUND = 60.0
README = Path(__file__).resolve().parents[2] / "README.md"
NOTE = "- buy oat milk, and call the plumber on Friday."


def make_bot(parent: Path, port: int, channels: Sequence[str] = ()) -> Path:
    """`autobot new` with no key (a machine with no credentials), gateway on `port`."""
    bot = create_bot(parent / "bot", interactive=False, channels=channels)
    config = yaml.safe_load(bot.config_file.read_text())
    config["gateway"]["port"] = port
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the demo's state directory is made (it must be gone afterwards)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


class WatchedOutput(io.StringIO):
    """A stdout that sets `seen` once `needle` has been written."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle = needle
        self.seen = trio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.needle in self.getvalue():
            self.seen.set()
        return written


async def test_demo_once_shows_real_tool_results_and_a_clean_log(
    tmp_path: Path, scratch: Path
) -> None:
    port = free_port()
    config_path = make_bot(tmp_path, port)
    config_before = config_path.read_bytes()
    stdout, stderr = io.StringIO(), io.StringIO()
    draws = random.Random(5)  # the demo's rng: the key first, then the bot token
    key, token = demo_key(draws), demo_token(draws)
    with trio.fail_after(RUN_BOUND):
        code = await demo(
            config_path,
            environ={},
            stdout=stdout,
            stderr=stderr,
            once=True,
            home=tmp_path / "home",
            rng=random.Random(5),
        )
    out = stdout.getvalue()
    assert (code, stderr.getvalue()) == (0, ""), out
    bot = config_path.parent
    log_file = bot / "logs" / "autobot.log"

    # labelled as a demo, Telegram included
    assert "autobot demo: the real gateway of" in out and "Telegram channel included" in out
    assert "nothing here\n            reaches Telegram or a real model" in out
    # the note was really written by the sandbox, and read back through it
    assert (bot / "workspace" / "notes" / "todo.md").read_text() == NOTE + "\n"
    assert f"Wrote {len(NOTE) + 1} bytes to notes/todo.md" in out
    assert f'Reading it back: "{NOTE}"' in out
    assert "notes/ now holds: todo.md" in out
    assert "uname -a (inside the sandbox): Linux" in out
    # the attacks, refused by the real checks
    assert "read_file /etc/passwd: error: Error: path '/etc/passwd' is outside the workspace" in out
    assert (
        "read_file ../../.env: error: Error: access to dotenv file '../../.env' is blocked" in out
    )
    assert re.search(
        r"exec cat ~/\.ssh/id_rsa: cat: \S*/\.ssh/id_rsa: No such file or directory", out
    )
    assert "(no value looks like a credential)" in out
    assert out.count("URL validation failed: SSRF protection") == 4  # tool lines + summary
    # the stranger, as Telegram showed her, and silence in the group
    assert (
        f"--- private chat: Mallory (@mallory, id {MALLORY.id}) ---\n"
        "Mallory> Hi! Can I use your bot too?\n"
        "  -- Mallory is not in allow_from: refused before the model sees anything\n"
        f"autobot> Sorry, this bot does not talk to you. Your telegram id is {MALLORY.id}:"
        " its owner can add it to allow_from.\n"
    ) in out
    assert f'--- group "Team" (chat id {TEAM.id}) ---\nAlice> Lunch at noon, everyone?\n' in out
    assert out.count("  -- no reply\n") == 2
    assert "autobot (reply to Alice)> The workspace holds" in out
    # the long reply, in two Telegram messages
    assert "autobot (1 of 2)> The squares of 1 to 400, worked out in the sandbox" in out
    assert "autobot (2 of 2)> 201 x 201 = 40401" in out
    assert "400 x 400 = 160000" in out
    # where to look
    assert f"http://127.0.0.1:{port}/healthz -> ok" in out
    assert 'autobot_channel_denied_total{channel="telegram"} 2' in out
    assert 'autobot_channel_messages_out_total{channel="telegram"} 7' in out
    assert "(6 from this run)" in out  # ACCESS DENIED: 4 tools, Mallory twice
    assert f"grep -c -- {key} {log_file}  ->  0 (not in the log)   (demo model key)" in out
    assert f"grep -c -- {token} {log_file}  ->  0 (not in the log)   (demo bot token)" in out
    assert re.search(r"the model never saw them: 0 of \d+ requests carried one", out)
    assert out.endswith("Stopping the gateway (--once).\nautobot: demo finished.\n")

    log = log_file.read_text()
    assert key not in log and token not in log
    assert "api_key=[REDACTED]" in log and "telegram_token=[REDACTED]" in log
    assert log.count("ACCESS DENIED") == 6
    assert (
        f"WARN  [telegram] ACCESS DENIED channel=telegram sender_id={MALLORY.id} "
        f'reason="sender {MALLORY.id} is not in allow_from"'
    ) in log
    assert (
        f"WARN  [telegram] ACCESS DENIED channel=telegram sender_id={MALLORY.id} "
        f'reason="sender {MALLORY.id} is not allowed (in group {TEAM.id})"'
    ) in log
    # the README's example record is this very line (its timestamp aside)
    readme = README.read_text()
    (example,) = [line for line in readme.splitlines() if "[telegram] ACCESS DENIED" in line]
    assert example.split(" ", 1)[1] in log
    for unseen in ("Hi! Can I use your bot too?", "Lunch at noon", "read me Alice's notes"):
        assert unseen not in log
    assert "root: http stopped" in log  # the tree stopped gracefully
    # the user's files are untouched and hold nothing of the demo's Telegram
    assert config_path.read_bytes() == config_before
    assert os.listdir(bot / "sessions") == []
    assert not (bot / "state").exists()
    assert os.listdir(scratch) == []  # the run's own state is gone


async def test_the_demo_never_contacts_the_bots_own_telegram(tmp_path: Path, scratch: Path) -> None:
    async with serve_fake_telegram() as own_telegram:
        config_path = make_bot(tmp_path, free_port(), channels=["telegram"])
        bot = config_path.parent
        config = yaml.safe_load(config_path.read_text())
        config["channels"]["telegram"]["api_base"] = own_telegram.base_url
        config["channels"]["telegram"]["allow_from"] = ["1001"]
        config_path.write_text(yaml.safe_dump(config))
        with (bot / ".env").open("a") as env:
            env.write(f"TELEGRAM_BOT_TOKEN={own_telegram.token}\n")
        stdout, stderr = io.StringIO(), io.StringIO()
        with trio.fail_after(RUN_BOUND):
            code = await demo(
                config_path, environ={}, stdout=stdout, stderr=stderr, once=True, home=tmp_path
            )
    assert (code, stderr.getvalue()) == (0, ""), stdout.getvalue()
    assert "(the bot's own Telegram token is set, and unused by the demo)" in stdout.getvalue()
    assert own_telegram.calls == []
    assert own_telegram.token not in (bot / "logs" / "autobot.log").read_text()


async def test_without_once_the_gateway_serves_until_a_signal(
    tmp_path: Path, scratch: Path
) -> None:
    port = free_port()
    config_path = make_bot(tmp_path, port)
    stdout, stderr = WatchedOutput("Ctrl-C stops the demo."), io.StringIO()
    codes: list[int] = []

    async def run() -> None:
        codes.append(
            await demo(
                config_path, environ={}, stdout=stdout, stderr=stderr, once=False, home=tmp_path
            )
        )

    with trio.fail_after(RUN_BOUND):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await stdout.seen.wait()
            async with httpx.AsyncClient(trust_env=False) as client:
                health = await client.get(f"http://127.0.0.1:{port}/healthz")
            assert health.text == "ok\n"  # still serving after the scenario
            assert "create a bot with\n@BotFather" in stdout.getvalue()  # how to go real
            os.kill(os.getpid(), signal.SIGINT)  # the demo's signal receiver takes it
    assert codes == [0]
    assert stderr.getvalue() == "autobot: demo gateway stopped (graceful).\n"
    log = (config_path.parent / "logs" / "autobot.log").read_text()
    assert "root: http stopped" in log and "channels: telegram stopped" in log
    assert os.listdir(scratch) == []


async def test_a_busy_port_is_one_line_on_stderr(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config_path = make_bot(tmp_path, busy.getsockname()[1])
        stdout, stderr = io.StringIO(), io.StringIO()
        with trio.fail_after(RUN_BOUND):
            code = await demo(
                config_path, environ={}, stdout=stdout, stderr=stderr, once=True, home=tmp_path
            )
    err = stderr.getvalue()
    assert code == 1
    assert err.startswith("autobot: demo failed: the gateway could not start 'http'")
    assert err.count("\n") == 1 and "Traceback" not in err


async def test_doctor_errors_other_than_the_provider_stop_the_demo(tmp_path: Path) -> None:
    config_path = make_bot(tmp_path, free_port())
    os.chmod(config_path.parent / ".env", 0o644)
    stdout, stderr = io.StringIO(), io.StringIO()
    with trio.fail_after(RUN_BOUND):
        code = await demo(
            config_path, environ={}, stdout=stdout, stderr=stderr, once=True, home=tmp_path
        )
    assert code == 1
    assert stdout.getvalue() == ""
    assert "permissions" in stderr.getvalue()
    assert stderr.getvalue().endswith(
        "autobot: the demo refuses to start until these errors are fixed.\n"
    )
    assert not (config_path.parent / "logs" / "autobot.log").exists()  # nothing started
