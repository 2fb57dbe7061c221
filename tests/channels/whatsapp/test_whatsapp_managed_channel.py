"""The WhatsApp channel with a managed bridge: the gateway's own child process.

`bridge: managed` with `bridge_command` set to the fake bridge's process:
the channel generates the secret file, starts the bridge on the Unix socket
in `state/`, talks to it, reconnects when it is killed and restarted, stops
for good when WhatsApp logs it out, and leaves no bridge behind when the
channel stops.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.logs.records import Level
from autobot.testing.fake_whatsapp_bridge import user_jid
from autobot.testing.fake_whatsapp_process import control
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import run_whatsapp_channel

ALICE = "+15551234567"
STEP = 60.0
# How often a test looks at a bridge process (virtual seconds: under the patient
# clock each look costs a quarter second of real idle time, so not too often).
POLL_SECONDS = 0.5


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@pytest.fixture
def bot_dir() -> Iterator[Path]:
    """A bot directory with a short path (a Unix socket path holds 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="wa-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


def command(bot_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "autobot.testing.fake_whatsapp_process",
        "--control",
        str(bot_dir / "control.sock"),
    ]


async def bridge_state(bot_dir: Path, *, other_than: int | None = None) -> dict[str, Any]:
    with trio.fail_after(STEP):
        while True:
            try:
                found = await control(bot_dir / "control.sock", "state")
            except (OSError, trio.BrokenResourceError):  # not listening yet, or just killed
                found = None
            if found is not None and found["pid"] != other_than and found["handshakes"]:
                return found
            await trio.sleep(POLL_SECONDS)


async def post(bot_dir: Path, text: str, message_id: str) -> None:
    await control(bot_dir / "control.sock", "post", phone=ALICE, text=text, id=message_id)


async def sent(bot_dir: Path, count: int) -> list[str]:
    with trio.fail_after(STEP):
        while True:
            texts = [s["text"] for s in (await bridge_state(bot_dir))["sent"]]
            if len(texts) >= count:
                return texts
            await trio.sleep(POLL_SECONDS)


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


CONFIG = WhatsAppConfig(enabled=True, bridge=BridgeMode.MANAGED, allow_from=(ALICE,))


async def test_the_managed_bridge_carries_messages_survives_kill_9_and_stops_with_the_channel(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    async with run_whatsapp_channel(
        CONFIG, bot_dir=bot_dir, bridge_command=command(bot_dir)
    ) as run:
        secret = bot_dir / "state" / "whatsapp-bridge-secret"
        first = await bridge_state(bot_dir)
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert stat.S_IMODE((bot_dir / "state" / "whatsapp-bridge.sock").stat().st_mode) == 0o600
        await post(bot_dir, "hello", "3EB0AA01")
        with trio.fail_after(STEP):
            message = await run.routed.receive()
        await run.reply(message, "hi from autobot")
        assert await sent(bot_dir, 1) == ["hi from autobot"]
        with trio.fail_after(STEP):  # the channel has the bridge's answer (else it retries)
            while run.health.messages_out < 1:  # noqa: ASYNC110 -- the actor counts it
                await trio.sleep(POLL_SECONDS)

        os.kill(first["pid"], signal.SIGKILL)  # the bridge dies
        second = await bridge_state(bot_dir, other_than=first["pid"])
        await post(bot_dir, "are you back?", "3EB0AA02")
        with trio.fail_after(STEP):
            again = await run.routed.receive()
        await run.reply(again, "yes")
        assert await sent(bot_dir, 1) == ["yes"]  # the new process's record
        assert run.health.reconnects >= 1
        [restart] = run.logged(Level.WARN, "whatsapp bridge exited (killed by SIGKILL)")
        assert "restarting in" in restart.message
        assert running(second["pid"])
    assert not running(second["pid"])  # terminated with the channel
    assert not (bot_dir / "state" / "whatsapp-bridge.pid").exists()
    assert user_jid(ALICE) == message.chat_id


async def test_a_logout_stops_the_channel_and_the_bridge_is_not_restarted(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    async with run_whatsapp_channel(
        CONFIG, bot_dir=bot_dir, bridge_command=command(bot_dir)
    ) as run:
        bridge = await bridge_state(bot_dir)
        await control(bot_dir / "control.sock", "logout")
        with trio.fail_after(STEP):
            await run.until_logged(Level.ERROR, "whatsapp channel stopped")
        assert run.health.stopped and "link it again" in run.health.reason
        await trio.sleep(5)
        assert not running(bridge["pid"])
        assert run.logged(Level.WARN, "whatsapp bridge exited") == []
        assert run.logged(Level.INFO, "whatsapp bridge started") != []
        assert len(run.logged(Level.INFO, "whatsapp bridge started")) == 1
