"""autobot as a benchmark peer: a bot made the way a user makes one, run as `autobot gateway`.

The bot directory comes from `autobot.testing.telegram_bot.make_telegram_bot`
(the `autobot new` scaffold, keys in `.env`, Telegram enabled with
`allow_from: ["*"]`, the Anthropic provider at the model fake); the
benchmark then gives the HTTP actor a free port and raises the LLM rate
limits so that it measures overhead, not refusals (the settings say by how
much). Everything else is the scaffold's default: the doctor's start-up
gate, the bubblewrap sandbox pool, the log actor, the inbound journal.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import yaml

from autobot.config.schema import RateLimitConfig
from autobot.testing.gateway_process import free_port
from autobot.testing.slack_bot import make_slack_bot
from autobot.testing.telegram_bot import make_telegram_bot
from bench.launch import Fakes, GatewayLaunch, clean_environment

NAME = "autobot"


def autobot_launch(
    directory: Path, fakes: Fakes, llm_calls_per_minute: int, channel: str = "telegram"
) -> GatewayLaunch:
    """A fresh bot under `directory` (which must exist) pointed at `fakes`,
    talking over `channel` (telegram, or slack)."""
    if channel == "slack":
        config_path = make_slack_bot(
            directory,
            api_base=fakes.telegram_url,
            model_url=fakes.model_url,
            allow_from=["*"],
            bot_token=fakes.telegram_token,
            app_token=fakes.app_token,
        )
        made = "make_slack_bot (autobot new + Slack at the fake"
    else:
        config_path = make_telegram_bot(
            directory,
            telegram_url=fakes.telegram_url,
            model_url=fakes.model_url,
            allow_from=["*"],
            token=fakes.telegram_token,
        )
        made = "make_telegram_bot (autobot new + Telegram at the fake"
    config = yaml.safe_load(config_path.read_text())
    port = free_port()
    config["gateway"]["port"] = port
    config["tools"]["rate_limit"] = {
        "llm": {"max_calls": llm_calls_per_minute},
        "global_llm": {"max_calls": llm_calls_per_minute},
    }
    config_path.write_text(yaml.safe_dump(config))
    defaults = RateLimitConfig()
    return GatewayLaunch(
        argv=(sys.executable, "-m", "autobot", "--config", str(config_path), "gateway"),
        env=clean_environment(),
        cwd=config_path.parent,
        stop_signal=signal.SIGTERM,
        settings=(
            f"bot made by {made}, allow_from ['*']); everything else the scaffold's defaults",
            f"rate limits raised: llm {defaults.llm.max_calls} -> {llm_calls_per_minute}"
            f"/min per session, global_llm {defaults.global_llm.max_calls} -> "
            f"{llm_calls_per_minute}/min",
            f"http actor on 127.0.0.1:{port}; stopped with SIGTERM",
        ),
    )
