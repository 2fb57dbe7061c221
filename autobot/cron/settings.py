"""The bot's cron limits as the core takes them, from `config.yml`'s `cron` section.

Shared by the gateway (the `cron` tool and the scheduler) and `autobot
cron`, so both read cron expressions in the same zone and apply the same
limits.
"""

from __future__ import annotations

from autobot.config.schema import CronConfig
from autobot.cron.book import Limits
from autobot.cron.schedule import host_timezone


def default_zone(config: CronConfig) -> str:
    """`cron.timezone` (validated as an IANA name when the config loaded), else the host's."""
    return config.timezone or host_timezone()


def cron_limits(config: CronConfig) -> Limits:
    """`cron.min_interval_seconds`, `cron.max_jobs_per_owner` and the default zone."""
    return Limits(
        min_interval=config.min_interval_seconds,
        max_jobs_per_owner=config.max_jobs_per_owner,
        default_tz=default_zone(config),
    )
