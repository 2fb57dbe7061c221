"""`demo` on a bot made by `autobot new`: the real tree, sandbox, SSRF guard and log.

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
from pathlib import Path

import httpx
import trio
import yaml

from autobot.demo import demo
from autobot.demo.provider import demo_key
from autobot.scaffold.create import create_bot

RUN_BOUND = 60.0
NOTE = "- buy oat milk, and call the plumber on Friday."


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_bot(parent: Path, port: int) -> Path:
    """`autobot new` with no key (a machine with no credentials), gateway on `port`."""
    bot = create_bot(parent / "bot", interactive=False)
    config = yaml.safe_load(bot.config_file.read_text())
    config["gateway"]["port"] = port
    bot.config_file.write_text(yaml.safe_dump(config))
    return bot.config_file


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


async def test_demo_once_shows_real_tool_results_and_a_clean_log(tmp_path: Path) -> None:
    port = free_port()
    config_path = make_bot(tmp_path, port)
    config_before = config_path.read_bytes()
    stdout, stderr = io.StringIO(), io.StringIO()
    key = demo_key(random.Random(5))  # the first draw of the demo's rng
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
    # where to look
    assert f"http://127.0.0.1:{port}/healthz -> ok" in out
    assert "(4 from this run)" in out
    assert f"grep -c {key} {bot / 'logs' / 'autobot.log'}  ->  0 (not in the log)" in out
    assert "0 of 12 requests carried it" in out
    assert out.endswith("Stopping the gateway (--once).\nautobot: demo finished.\n")

    log = (bot / "logs" / "autobot.log").read_text()
    assert key not in log
    assert "api_key=[REDACTED]" in log
    assert log.count("ACCESS DENIED") == 4
    assert "root: http stopped" in log  # the tree stopped gracefully
    assert config_path.read_bytes() == config_before  # the user's files are untouched


async def test_without_once_the_gateway_serves_until_a_signal(tmp_path: Path) -> None:
    port = free_port()
    config_path = make_bot(tmp_path, port)
    stdout, stderr = WatchedOutput("Ctrl-C stops it."), io.StringIO()
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
            os.kill(os.getpid(), signal.SIGINT)  # the demo's signal receiver takes it
    assert codes == [0]
    assert stderr.getvalue() == "autobot: demo gateway stopped (graceful).\n"
    assert "root: http stopped" in (config_path.parent / "logs" / "autobot.log").read_text()


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
