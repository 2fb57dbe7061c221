"""`kill -9` of the real `autobot gateway` mid-turn: the message is answered once, after the restart.

The gateway runs as a child process (`testing.gateway_process`: the real
command, its doctor gate, lifetime and signals) with the Slack channel
against the loopback Slack fake and a slow model fake in this test process.
Alice writes; once the model has the request (the turn is running), the
gateway is killed with SIGKILL and started again. Two moments: after the
channel acknowledged the envelope (the inbound journal is then the only
copy: Slack redelivers nothing) and before Slack saw an acknowledgement (it
redelivers the event to the new process, whose journal knows it: it is
acknowledged and dropped, and the replay answers it once). The fake records
every chat.postMessage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_slack import FakeSlack, serve_fake_slack
from autobot.testing.gateway_process import (
    free_port,
    gateway_process,
    killed,
    pending_journal_entries,
    slow_first_echo,
    stop_gracefully,
    until,
)
from autobot.testing.llm_script import FakeLLM
from autobot.testing.slack_bot import make_slack_bot
from autobot.testing.telegram_bot import last_user_text

ALICE = "U1001"
# Slack keeps redelivering the unacknowledged event while the gateway restarts
REDELIVERIES = 100


def bot_config(tmp_path: Path, slack: FakeSlack, model: FakeLLM) -> Path:
    config_path = make_slack_bot(
        tmp_path, api_base=slack.api_base, model_url=model.base_url, allow_from=[ALICE]
    )
    config = yaml.safe_load(config_path.read_text())
    config["gateway"]["port"] = free_port()
    config_path.write_text(yaml.safe_dump(config))
    return config_path


@pytest.mark.parametrize("acknowledged", [True, False], ids=["acknowledged", "not-acknowledged"])
async def test_kill_9_mid_turn_then_restart_answers_the_message_once(
    tmp_path: Path, acknowledged: bool
) -> None:
    log = tmp_path / "gateway.log"
    async with (
        serve_fake_slack(max_retries=REDELIVERIES) as slack,
        serve_fake_anthropic(handler=slow_first_echo()) as model,
    ):
        alice = slack.add_user(ALICE, "alice")
        config = bot_config(tmp_path, slack, model)
        async with gateway_process(config, log) as first:
            await until(lambda: bool(slack.open_connections()), first, log)
            slack.ignore_acks = not acknowledged
            slack.post_dm(alice, "remember the milk")
            await until(lambda: len(model.requests) == 1, first, log)  # journaled, turn runs
            if acknowledged:
                await until(lambda: not slack.pending, first, log)
            held = len(slack.pending)
            await killed(config, first)
            slack.ignore_acks = False
        assert slack.posted == []  # killed before any answer
        assert held == (0 if acknowledged else 1)
        deliveries_before = len(slack.deliveries)
        async with gateway_process(config, log) as second:
            await until(lambda: len(slack.messages_in(alice.dm)) >= 1, second, log)
            slack.post_dm(alice, "and eggs")
            await until(lambda: len(slack.messages_in(alice.dm)) >= 2, second, log)
            await until(lambda: not slack.pending, second, log)
            await stop_gracefully(second, log)
    assert [m.text for m in slack.messages_in(alice.dm)] == [
        "echo: remember the milk",
        "echo: and eggs",
    ]
    redelivered = [d for d in slack.deliveries[deliveries_before:] if d.retry_attempt > 0]
    assert bool(redelivered) is not acknowledged  # Slack tried again only without an ack
    assert slack.lost == []
    assert pending_journal_entries(config, "slack") == 0
    asked = [last_user_text(r.json()).splitlines()[-1] for r in model.requests]
    assert asked == ["remember the milk", "remember the milk", "and eggs"]
