"""The demo's provider setup (pure): a fake key, the in-memory config, the doctor waiver.

The demo runs the user's bot exactly as configured except for one thing: the
model's far end. `with_demo_provider` returns a copy of the loaded config
(never written anywhere) whose `providers.anthropic` points at the loopback
fake with a throwaway `Secret` key and whose model is `DEMO_MODEL`. The key
joins `secret_values`, as a real key from `.env` would, so the log actor
redacts it. Doctor errors about the provider are expected on a machine with
no credentials; `blocking_errors` is every other error, which stops the demo
as it would stop the gateway.
"""

from __future__ import annotations

import random

import attrs

from autobot.config import LoadedConfig
from autobot.config.schema import ProviderConfig
from autobot.config.secret import Secret
from autobot.doctor.findings import Finding, Report

DEMO_MODEL = "anthropic/autobot-demo"
DEMO_KEY_PREFIX = "sk-ant-demo-"
DEMO_KEY_HEX_DIGITS = 40  # long enough for the redactor's `sk-ant-` shape (20+ characters)
PROVIDER_FINDINGS = frozenset(
    {"no_provider", "model_provider_unknown", "model_provider_unconfigured"}
)


def demo_key(rng: random.Random) -> str:
    """A throwaway key shaped like an Anthropic key (valid nowhere)."""
    return DEMO_KEY_PREFIX + "".join(
        rng.choice("0123456789abcdef") for _ in range(DEMO_KEY_HEX_DIGITS)
    )


def with_demo_provider(loaded: LoadedConfig, *, api_base: str, key: str) -> LoadedConfig:
    """`loaded` with providers.anthropic = (`api_base`, `key`) and the model
    `DEMO_MODEL`; every other setting (sandbox, limits, gateway, logging) kept."""
    config = loaded.config
    providers = attrs.evolve(
        config.providers, anthropic=ProviderConfig(api_key=Secret(key), api_base=api_base)
    )
    defaults = attrs.evolve(config.agents.defaults, model=DEMO_MODEL)
    demo = attrs.evolve(
        config,
        providers=providers,
        agents=attrs.evolve(config.agents, defaults=defaults),
    )
    return attrs.evolve(loaded, config=demo, secret_values=loaded.secret_values | {key})


def blocking_errors(report: Report) -> tuple[Finding, ...]:
    """The doctor errors that stop the demo: all but the provider ones."""
    return tuple(f for f in report.errors if f.code not in PROVIDER_FINDINGS)
