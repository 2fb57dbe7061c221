"""`kill -9` of a gateway with WhatsApp mid-turn: the message is answered once, after the restart.

The gateway runs as a child process (`python -m autobot --config ... gateway`,
the real command, WhatsApp enabled in its config) against the fake bridge and a slow
model fake in this test process. A user writes; once the model has the
request (the turn is running) the gateway is killed with SIGKILL and started
again. The bridge records every message it sent: the user must get exactly
one answer. Two moments are killed: after the bridge received the channel's
acknowledgement (the inbound journal is then the only copy: nothing is
delivered again) and with the acknowledgement lost (the bridge delivers the
message again after the restart: the journal drops the duplicate). And a
message with a file, killed after the bridge downloaded it but before the
journal held it: the bridge delivers it again, it is fetched again into the
same file (no second copy), and answered once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autobot.channels.base import AttachmentKind
from autobot.channels.whatsapp.endpoint import UrlEndpoint
from autobot.channels.whatsapp.protocol import Media
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_whatsapp_bridge import (
    FakeBridge,
    SendFault,
    direct_message,
    inbox_name,
    serve_fake_bridge,
    user_jid,
)
from autobot.testing.gateway_process import (
    echo_last_line,
    gateway_process,
    killed,
    pending_journal_entries,
    slow_first_echo,
    stop_gracefully,
    until,
)
from autobot.testing.llm_script import FakeLLM, ScriptedReply
from autobot.testing.telegram_bot import last_user_text
from autobot.testing.whatsapp_bot import make_whatsapp_bot

KEY = bytes(range(32))
ALICE = "+15551234567"


def bot(tmp_path: Path, bridge: FakeBridge, model: FakeLLM) -> Path:
    [url] = [e.url for e in bridge.endpoints if isinstance(e, UrlEndpoint)]
    return make_whatsapp_bot(
        tmp_path, model_url=model.base_url, bridge_url=url, key=KEY, allow_from=[ALICE]
    )


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acknowledged", "ack-lost"])
async def test_kill_9_mid_turn_then_restart_answers_the_message_once(
    tmp_path: Path, acknowledged: bool
) -> None:
    log = tmp_path / "gateway.log"
    chat = user_jid(ALICE)
    async with (
        serve_fake_bridge(KEY, tcp=True) as bridge,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        config = bot(tmp_path, bridge, model)
        bridge.ignore_acks = not acknowledged
        async with gateway_process(config, log) as first:
            await until(lambda: bridge.connected, first, log)
            message = bridge.post(
                direct_message(ALICE, "remember the milk", message_id=bridge.message_id())
            )
            await until(lambda: len(model.requests) == 1, first, log)  # the turn runs
            await until(lambda: message.id in bridge.acks, first, log)
            assert (message.id in bridge.pending) is not acknowledged
            await killed(config, first)
        assert bridge.sent_texts(chat) == []  # killed before any answer
        bridge.ignore_acks = False
        async with gateway_process(config, log) as second:
            await until(lambda: len(bridge.sent_texts(chat)) == 1, second, log)
            bridge.post(direct_message(ALICE, "and eggs", message_id=bridge.message_id()))
            await until(lambda: len(bridge.sent_texts(chat)) == 2, second, log)
            await stop_gracefully(second, log)
    assert bridge.sent_texts(chat) == ["echo: remember the milk", "echo: and eggs"]
    assert bridge.pending == {}
    # delivered again after the restart only when the acknowledgement was lost
    assert bridge.acks.count(message.id) == (1 if acknowledged else 2)
    assert pending_journal_entries(config, "whatsapp") == 0
    # the model was asked again after the restart (the killed turn had no answer)
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    assert asked == ["remember the milk", "remember the milk", "and eggs"]


async def test_kill_9_between_the_fetch_and_the_journal_fetches_again_into_the_same_file(
    tmp_path: Path,
) -> None:
    log = tmp_path / "gateway.log"
    chat = user_jid(ALICE)
    document = Media(kind=AttachmentKind.DOCUMENT, mime_type="application/pdf", size=8)
    async with (
        serve_fake_bridge(KEY, tcp=True) as bridge,
        serve_fake_anthropic(
            handler=lambda body: ScriptedReply(text=echo_last_line(body))
        ) as model,
    ):
        config = bot(tmp_path, bridge, model)
        inbox = config.parent / "workspace" / "inbox"
        bridge.workspace = config.parent / "workspace"
        bridge.fetch_faults.append(SendFault(stall=True))  # downloaded; the answer never leaves
        async with gateway_process(config, log) as first:
            await until(lambda: bridge.connected, first, log)
            message = bridge.post(
                direct_message(
                    ALICE, "the report", message_id=bridge.message_id(), media=[document]
                ),
                content=b"%PDF-1.4",
            )
            await until(lambda: bridge.fetches == [message.id], first, log)
            await killed(config, first)
        # never journaled, never acknowledged
        assert pending_journal_entries(config, "whatsapp") == 0
        assert message.id in bridge.pending and bridge.acks == []
        name = inbox_name(message.chat, message.id, AttachmentKind.DOCUMENT)
        assert [p.name for p in inbox.iterdir()] == [name]
        async with gateway_process(config, log) as second:
            await until(lambda: len(bridge.sent_texts(chat)) == 1, second, log)
            await stop_gracefully(second, log)
    assert bridge.fetches == [message.id, message.id]  # redelivered, fetched again
    assert [p.name for p in inbox.iterdir()] == [name]  # into the same file: no copy
    assert bridge.sent_texts(chat) == ["echo: the report"]
    assert bridge.pending == {} and bridge.acks == [message.id]
    [request] = model.requests
    assert f"inbox/{name}" in last_user_text(request.json())
