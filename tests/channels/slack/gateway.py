"""The whole gateway with Slack enabled, against the loopback Slack and model fakes (test helper)."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.app import Gateway, build_gateway
from autobot.channels.slack.launch import slack_channel
from autobot.config import LoadedConfig, load_config
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_slack import FakeSlack, serve_fake_slack
from autobot.testing.llm_script import FakeLLM, Step
from autobot.testing.slack_bot import make_slack_bot
from autobot.testing.telegram_bot import echo_model

STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine


def any_port(loaded: LoadedConfig) -> LoadedConfig:
    gateway = attrs.evolve(loaded.config.gateway, port=0)
    return attrs.evolve(loaded, config=attrs.evolve(loaded.config, gateway=gateway))


@attrs.frozen
class Running:
    gateway: Gateway
    slack: FakeSlack
    model: FakeLLM
    loaded: LoadedConfig


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    allow_from: list[str],
    slack: Mapping[str, Any] | None = None,
    model: Callable[[Mapping[str, Any]], Step] | None = None,
    prepare: Callable[[FakeSlack], None] | None = None,
) -> AsyncIterator[Running]:
    """The real gateway (HTTP actor on a free port) with Slack at a fresh fake;
    `prepare` sets the fake up before the gateway starts."""
    async with (
        serve_fake_slack() as fake_slack,
        serve_fake_anthropic(handler=model or echo_model()) as fake_model,
    ):
        if prepare is not None:
            prepare(fake_slack)
        config_path = make_slack_bot(
            tmp_path,
            api_base=fake_slack.api_base,
            model_url=fake_model.base_url,
            allow_from=allow_from,
            slack=slack,
        )
        loaded = any_port(load_config(config_path, {}))
        slack_spec = slack_channel(loaded.config.channels.slack, loaded, wall_clock=time.time)
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=[slack_spec])
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, fake_slack, fake_model, loaded)
            gateway.stop()
