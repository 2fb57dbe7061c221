"""`scripts/run`, the front door, as a user runs it: a real shell script, real
`autobot` processes, against the loopback Bot API and model stand-ins.

Without LLM credentials it runs the demo; with a Telegram token and an LLM key
in `.env` the same command runs the real gateway on Telegram. Real processes:
generous bounds, no durations asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import trio
import yaml

from autobot.scaffold.create import create_bot
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.telegram.objects import TelegramUser
from autobot.testing.telegram_bot import echo_model, make_telegram_bot

from .test_demo_end_to_end import free_port

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "scripts" / "run"
# scripts/setup, two doctor runs and the demo (or the gateway start) on a loaded machine
RUN_BOUND = 180.0
STOP_BOUND = 30.0
ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")


def _environ() -> dict[str, str]:
    """This environment without credentials (the bot's .env is what counts)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith(("_API_KEY", "_TOKEN"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _set_port(config_path: Path, port: int) -> None:
    config = yaml.safe_load(config_path.read_text())
    config["gateway"]["port"] = port
    config_path.write_text(yaml.safe_dump(config))


async def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(RUN_BOUND):
        return await trio.run_process(
            [str(RUN), *args], capture_stdout=True, capture_stderr=True, check=False, env=_environ()
        )


async def _collect(process: trio.Process, output: list[bytes]) -> None:
    """Read the process's output until it ends (a full pipe would block it)."""
    assert process.stdout is not None
    while chunk := await process.stdout.receive_some():
        output.append(chunk)


async def test_without_credentials_it_runs_the_telegram_demo_once(tmp_path: Path) -> None:
    bot = create_bot(tmp_path / "bot", interactive=False, channels=("telegram",))
    _set_port(bot.config_file, free_port())
    config_before = bot.config_file.read_bytes()
    done = await _run("--once", str(bot.config_file.parent))
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, out + err
    assert "running the demonstration instead (DEMO: Telegram" in out
    assert "Telegram channel included" in out
    assert "--- private chat: Mallory (@mallory, id 6666) ---" in out
    assert "autobot (2 of 2)> 201 x 201 = 40401" in out
    assert out.endswith("Stopping the gateway (--once).\nautobot: demo finished.\n")
    assert bot.config_file.read_bytes() == config_before
    # the doctor's report once, by the demo's own check, with its note on the provider
    assert (out + err).count("Summary: 1 error, ") == 1, out + err
    assert out.index("Summary: ") < out.index("(The provider error is expected")


async def test_with_a_token_and_a_key_the_same_command_runs_the_real_gateway(
    tmp_path: Path,
) -> None:
    async with (
        serve_fake_telegram() as telegram,
        serve_fake_anthropic(handler=echo_model()) as model,
    ):
        config_path = make_telegram_bot(
            tmp_path,
            telegram_url=telegram.base_url,
            model_url=model.base_url,
            allow_from=["@alice"],
        )
        _set_port(config_path, free_port())
        process = await trio.lowlevel.open_process(
            [str(RUN), str(config_path.parent)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_environ(),
        )
        output: list[bytes] = []
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_collect, process, output)
                with trio.fail_after(RUN_BOUND):
                    await telegram.wait_for_calls("getUpdates", 1)
                    telegram.post_text(ALICE, "hello from Telegram")
                    reply = await telegram.next_message(ALICE.id)
                assert reply.text == "echo: hello from Telegram"
                process.send_signal(signal.SIGTERM)  # scripts/run exec-ed the gateway
                with trio.fail_after(STOP_BOUND):
                    code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    err = b"".join(output).decode()
    assert code == 0, err
    assert "gateway stopped (graceful)" in err
    assert "demo" not in err
    # the doctor's report (its warnings: running as root) once, by the gateway's own check
    reports = err.count("Summary: ")
    assert reports == 1 if os.geteuid() == 0 else reports <= 1, err


async def test_once_is_refused_when_the_real_gateway_would_run(tmp_path: Path) -> None:
    async with serve_fake_telegram() as telegram, serve_fake_anthropic() as model:
        config_path = make_telegram_bot(
            tmp_path, telegram_url=telegram.base_url, model_url=model.base_url, allow_from=["1"]
        )
        done = await _run("--once", str(config_path.parent))
    assert done.returncode == 2
    assert done.stderr.decode().startswith("scripts/run: --once is for the demo")
    assert telegram.calls == [] and model.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus"], "scripts/run: unknown option '--bogus'"),
        (["one", "two"], "scripts/run: one BOT_DIR only (got 'one' and 'two')"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_runs(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = await _run(*args)
    assert done.returncode == 2
    assert done.stderr.decode() == f"{message}\nusage: scripts/run [--once] [BOT_DIR]\n"
    assert done.stdout == b""
