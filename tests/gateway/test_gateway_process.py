"""`autobot gateway` as a real process: doctor gate, health, SIGTERM within the grace."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from .botfactory import free_port, make_gateway_bot

# Generous bounds for a real process on a loaded 2-core machine; nothing asserts a duration.
START_BOUND = 60.0
STOP_BOUND = 30.0


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _start(config: Path) -> trio.Process:
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "autobot.cli", "--config", str(config), "gateway"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_environ(),
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
