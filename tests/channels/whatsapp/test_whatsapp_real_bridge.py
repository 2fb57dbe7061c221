"""The Python client against the real Node bridge (`autobot/whatsapp_bridge/bridge.mjs`).

Both sides were written from the contract alone; these tests make them talk:
the channel runs the real bridge as its managed child (from the package,
where its dependencies are installed for its own tests), authenticates,
reads its status (WhatsApp itself is unreachable here: the bridge says so),
gets `not_connected` for a reply, and stops it gracefully. A client with
another secret is refused by the real bridge with 4001. Skipped where Node
or the bridge's dependencies are missing; a real WhatsApp login cannot be
tested here at all.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.base import OutboundMessage
from autobot.channels.whatsapp.bridge_install import shipped_bridge_dir
from autobot.channels.whatsapp.client import BridgeRejected, connect_bridge
from autobot.channels.whatsapp.endpoint import UnixEndpoint
from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.logs.records import Level
from autobot.testing.telegram_channel import patient_clock
from autobot.testing.whatsapp_channel import run_whatsapp_channel

PACKAGE = shipped_bridge_dir()
STEP = 120.0

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (PACKAGE / "bridge.mjs").is_file()
    or not (PACKAGE / "node_modules" / "@whiskeysockets" / "baileys").is_dir(),
    reason="node or the bridge's npm dependencies are not installed",
)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@pytest.fixture
def bot_dir() -> Iterator[Path]:
    """A bot directory with a short path (a Unix socket path holds 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="wa-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


CONFIG = WhatsAppConfig(enabled=True, bridge=BridgeMode.MANAGED, allow_from=("+15551234567",))


async def test_the_channel_runs_and_talks_to_the_real_bridge(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    async with run_whatsapp_channel(
        CONFIG, bot_dir=bot_dir, bridge_command=["node", str(PACKAGE / "bridge.mjs")]
    ) as run:
        with trio.fail_after(STEP):
            await run.until_logged(Level.INFO, "whatsapp bridge connected")
            await run.until_logged(Level.INFO, "whatsapp is")
        assert not run.health.up and run.health.reason.startswith("WhatsApp ")
        await run.outbox.send(
            OutboundMessage(
                channel="whatsapp",
                chat_id="15551234567@s.whatsapp.net",
                content="hello",
                final=True,
            )
        )
        with trio.fail_after(STEP * 5):
            [record] = await run.until_logged(Level.ERROR, "whatsapp message not delivered")
        assert "not_connected" in dict(record.fields)["error"]
    # stopped with the channel: SIGTERM, a graceful exit, never a restart
    assert run.logged(Level.WARN, "whatsapp bridge exited") == []
    assert len(run.logged(Level.INFO, "whatsapp bridge started")) == 1


async def test_the_real_bridge_refuses_another_secret(
    bot_dir: Path, clock: trio.testing.MockClock
) -> None:
    async with run_whatsapp_channel(
        CONFIG, bot_dir=bot_dir, bridge_command=["node", str(PACKAGE / "bridge.mjs")]
    ) as run:
        with trio.fail_after(STEP):
            await run.until_logged(Level.INFO, "whatsapp bridge connected")
        endpoint = UnixEndpoint(bot_dir / "state" / "whatsapp-bridge.sock")
        with pytest.RaisesGroup(pytest.RaisesExc(BridgeRejected, match="4001")):
            async with trio.open_nursery() as nursery:
                await connect_bridge(nursery, endpoint, bytes(32))
