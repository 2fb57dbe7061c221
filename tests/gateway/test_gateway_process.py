"""`autobot gateway` as a real process: doctor gate, health, SIGTERM within the grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from autobot.testing.gateway_process import free_port

from .botfactory import make_gateway_bot

# Generous bounds for a real process on a loaded 2-core machine; nothing asserts a duration.
START_BOUND = 60.0
STOP_BOUND = 30.0


def _environ(path_first: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env.get('PATH', '')}"
    return env


async def _start(config: Path, *, path_first: Path | None = None) -> trio.Process:
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "autobot.cli", "--config", str(config), "gateway"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_environ(path_first),
    )


async def _wait_healthy(url: str, process: trio.Process) -> None:
    async with httpx.AsyncClient() as client:
        with trio.fail_after(START_BOUND):
            while True:
                assert process.poll() is None, "the gateway exited during start-up"
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


async def _stderr(process: trio.Process) -> str:
    assert process.stderr is not None
    chunks = []
    while chunk := await process.stderr.receive_some():
        chunks.append(chunk)
    return b"".join(chunks).decode()


async def test_sigterm_stops_a_healthy_gateway_gracefully(tmp_path: Path) -> None:
    port = free_port()
    config = make_gateway_bot(tmp_path, port=port)
    process = await _start(config)
    async with trio.open_nursery() as nursery:
        output: list[str] = []

        async def collect() -> None:
            output.append(await _stderr(process))

        nursery.start_soon(collect)
        await _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(STOP_BOUND):
            assert await process.wait() == 0
    assert "autobot: gateway stopped (graceful)." in output[0]
    assert "root: http stopped" in output[0]


async def test_doctor_errors_keep_the_gateway_from_starting(tmp_path: Path) -> None:
    port = free_port()
    config = make_gateway_bot(tmp_path, port=port)
    env_file = config.parent / ".env"
    os.chmod(env_file, 0o644)
    process = await _start(config)
    with trio.fail_after(START_BOUND):
        output = await _stderr(process)
        assert await process.wait() == 1
    assert f"chmod 600 {env_file}" in output
    assert "refuses to start" in output
    assert "gateway starting" not in output


async def test_a_port_in_use_is_a_clear_start_up_error(tmp_path: Path) -> None:
    with trio.socket.socket() as busy:
        await busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = make_gateway_bot(tmp_path, port=port)
        process = await _start(config)
        with trio.fail_after(START_BOUND):
            output = await _stderr(process)
            assert await process.wait() == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in output
    assert "Traceback" not in output


class StderrLines:
    """The gateway's stderr, read line by line as it comes."""

    def __init__(self, process: trio.Process) -> None:
        assert process.stderr is not None
        self.stream = process.stderr
        self.text = ""

    async def wait_for(self, needle: str) -> None:
        while needle not in self.text:
            chunk = await self.stream.receive_some()
            assert chunk, f"stderr closed before {needle!r}:\n{self.text}"
            self.text += chunk.decode()

    async def read_to_end(self) -> str:
        while chunk := await self.stream.receive_some():
            self.text += chunk.decode()
        return self.text


def _hanging_bwrap(directory: Path, marker: Path) -> Path:
    """A `bwrap` that says it was started (creates `marker`), then hangs: the
    gateway's start-up (the doctor's sandbox probe) is provably in progress."""
    directory.mkdir()
    fake = directory / "bwrap"
    fake.write_text(f"#!/bin/sh\n: > '{marker}'\nexec /bin/sleep 600\n")
    fake.chmod(0o755)
    return directory


async def _wait_for_file(path: Path, process: trio.Process) -> None:
    with trio.fail_after(START_BOUND):
        while not await trio.Path(path).exists():
            assert process.poll() is None, "the gateway exited during start-up"
            await trio.sleep(0.05)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_during_start_up_exits_0_without_a_traceback(
    tmp_path: Path, signum: int
) -> None:
    config = make_gateway_bot(tmp_path, port=free_port())
    marker = tmp_path / "probe-started"
    process = await _start(config, path_first=_hanging_bwrap(tmp_path / "bin", marker))
    await _wait_for_file(marker, process)
    process.send_signal(signum)
    with trio.fail_after(STOP_BOUND):
        output = await _stderr(process)
        assert await process.wait() == 0, output
    name = signal.Signals(signum).name
    assert f"autobot: gateway stopped during start-up ({name}); nothing was started." in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "gateway starting" not in output


async def test_a_second_sigterm_during_teardown_still_exits_0(tmp_path: Path) -> None:
    port = free_port()
    config = make_gateway_bot(tmp_path, port=port)
    process = await _start(config)
    lines = StderrLines(process)
    await _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(STOP_BOUND):
        await lines.wait_for("autobot: gateway stopped (graceful).")
        # the exit code is decided; the process is tearing down (or gone)
        process.send_signal(signal.SIGTERM)
        output = await lines.read_to_end()
        assert await process.wait() == 0, output
    assert "Traceback" not in output
