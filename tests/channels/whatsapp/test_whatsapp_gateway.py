"""The whole gateway with WhatsApp enabled, against the fake bridge and the fake model.

The real tree runs (log, sandbox pool with bubblewrap, channels, router,
HTTP), built by `build_gateway(..., channels=[whatsapp_channel(...)])`; the
real client talks to the fake bridge over loopback (an external bridge), or
the gateway runs the fake bridge's process as its managed bridge; the real
Anthropic SDK talks to the fake model.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from autobot.app import Gateway, build_gateway
from autobot.channels.whatsapp.actor import CHUNK_UNITS
from autobot.channels.whatsapp.endpoint import UrlEndpoint
from autobot.channels.whatsapp.launch import whatsapp_channel
from autobot.channels.whatsapp.protocol import Send, utf16_units
from autobot.config import LoadedConfig, load_config
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    direct_message,
    group_message,
    serve_fake_bridge,
    user_jid,
)
from autobot.testing.fake_whatsapp_process import control
from autobot.testing.telegram_bot import echo_model
from autobot.testing.whatsapp_bot import make_whatsapp_bot

KEY = bytes(range(32))
ALICE = "+15551234567"
BOB = "+447700900123"
GROUP = "120363012345678901@g.us"
STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine


@attrs.frozen
class Running:
    gateway: Gateway
    bridge: FakeBridge
    loaded: LoadedConfig


def url_of(bridge: FakeBridge) -> str:
    [url] = [e.url for e in bridge.endpoints if isinstance(e, UrlEndpoint)]
    return url


@asynccontextmanager
async def running_bot(
    tmp_path: Path, *, allow_from: list[str], **whatsapp: Any
) -> AsyncIterator[Running]:
    async with (
        serve_fake_bridge(KEY) as bridge,
        serve_fake_anthropic(handler=echo_model()) as model,
    ):
        config_path = make_whatsapp_bot(
            tmp_path,
            model_url=model.base_url,
            bridge_url=url_of(bridge),
            key=KEY,
            allow_from=allow_from,
            whatsapp=whatsapp,
        )
        loaded = load_config(config_path, {})
        channel = whatsapp_channel(loaded.config.channels.whatsapp, loaded, wall_clock=lambda: 0.0)
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=[channel])
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, bridge, loaded)
            gateway.stop()


async def replies(bridge: FakeBridge, to: str, count: int = 1) -> list[str]:
    with trio.fail_after(STEP_SECONDS):
        await bridge.until(lambda: len(bridge.sent_texts(to)) >= count)
    return bridge.sent_texts(to)


async def test_an_allowed_user_is_answered_and_a_stranger_denied(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=["15551234567@s.whatsapp.net"]) as bot:
        bridge = bot.bridge
        bridge.post(direct_message(ALICE, "hello there", message_id=bridge.message_id()))
        assert await replies(bridge, user_jid(ALICE)) == ["echo: hello there"]
        bridge.post(direct_message(BOB, "let me in", message_id=bridge.message_id()))
        [denial] = await replies(bridge, user_jid(BOB))
        assert BOB in denial
        async with httpx.AsyncClient(base_url=bot.gateway.http_url or "") as client:
            health = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
    assert health.status_code == 200
    assert 'autobot_channel_denied_total{channel="whatsapp"} 1' in metrics
    assert 'autobot_channel_messages_out_total{channel="whatsapp"} 1' in metrics
    log = (bot.loaded.logs_dir / "autobot.log").read_text()
    assert "ACCESS DENIED" in log and BOB in log
    assert "let me in" not in log  # nothing of a stranger's message reaches a session
    assert KEY.hex() not in log
    assert bridge.pending == {}


async def test_a_group_mention_is_answered_in_reply(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=[ALICE], group_allow_from=[GROUP]) as bot:
        bridge = bot.bridge
        bridge.post(group_message(GROUP, ALICE, "just chatting", message_id=bridge.message_id()))
        asked = bridge.post(
            group_message(
                GROUP,
                ALICE,
                "@autobot what time is it",
                message_id=bridge.message_id(),
                mentioned=True,
            )
        )
        [reply] = await replies(bridge, GROUP)
    assert reply == "echo: [Alice in a group chat]\n@autobot what time is it"
    [sent] = [r for r in bridge.delivered if isinstance(r, Send)]
    assert sent.reply_to == asked.id


async def test_a_long_reply_is_split_under_the_limit(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=["*"]) as bot:
        bridge = bot.bridge
        text = " ".join(f"w{i}" for i in range(2400))
        bridge.post(direct_message(ALICE, text, message_id=bridge.message_id()))
        with trio.fail_after(STEP_SECONDS):
            await bridge.until(
                lambda: (
                    sum(len(t) for t in bridge.sent_texts(user_jid(ALICE)))
                    >= len("echo: " + text) - 10
                )
            )
        parts = bridge.sent_texts(user_jid(ALICE))
    assert len(parts) >= 3
    assert all(utf16_units(part) <= CHUNK_UNITS for part in parts)
    assert " ".join(parts).split() == ("echo: " + text).split()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A parent with a short path: the managed bridge's socket path must fit 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="wa-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


async def test_a_managed_bridge_runs_with_the_gateway_and_stops_with_it(short_dir: Path) -> None:
    control_socket = short_dir / "control.sock"
    command = [
        sys.executable,
        "-m",
        "autobot.testing.fake_whatsapp_process",
        "--control",
        str(control_socket),
    ]
    async with serve_fake_anthropic(handler=echo_model()) as model:
        config_path = make_whatsapp_bot(
            short_dir, model_url=model.base_url, bridge_url=None, allow_from=[ALICE]
        )
        loaded = load_config(config_path, {})
        channel = whatsapp_channel(
            loaded.config.channels.whatsapp,
            loaded,
            wall_clock=lambda: 0.0,
            bridge_command=command,
            environ={**os.environ, "ANTHROPIC_API_KEY": "sk-ant-api03-" + "x" * 40},
        )
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=[channel])
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            with trio.fail_after(STEP_SECONDS):
                while True:
                    try:
                        state = await control(control_socket, "state")
                    except (OSError, trio.BrokenResourceError):
                        state = {"handshakes": 0}
                    if state["handshakes"]:
                        break
                    await trio.sleep(0.1)
            assert "ANTHROPIC_API_KEY" not in state["environ"]
            await control(control_socket, "post", phone=ALICE, text="hi", id="3EB0CC01")
            with trio.fail_after(STEP_SECONDS):
                while not (await control(control_socket, "state"))["sent"]:  # noqa: ASYNC110
                    await trio.sleep(0.1)  # another process: nothing to wait on here
            sent = (await control(control_socket, "state"))["sent"]
            gateway.stop()
    assert sent == [{"to": user_jid(ALICE), "text": "echo: hi"}]
    with pytest.raises(ProcessLookupError):  # the bridge stopped with the gateway
        os.kill(state["pid"], 0)
