"""A tiny builder of bot directories for doctor tests, and fake sandbox probes."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import attrs
import yaml

from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.sandbox.probe import SandboxProbe

ANTHROPIC_KEY = "sk-ant-api03-" + "A" * 40  # lives in .env only, never in config.yml

CLEAN_CONFIG: dict[str, Any] = {
    "agents": {"defaults": {"workspace": "./workspace", "model": "anthropic/claude-sonnet-4-5"}},
    "providers": {"anthropic": {"api_key": "${ANTHROPIC_API_KEY}"}},
    "gateway": {"host": "127.0.0.1", "port": 18790},
    "tools": {"sandbox": "auto"},
}
CLEAN_ENV = f"ANTHROPIC_API_KEY={ANTHROPIC_KEY}\n"


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: nested dicts merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@attrs.frozen
class Bot:
    root: Path
    config: Path
    env: Path
    workspace: Path


def make_bot(
    root: Path,
    config: dict[str, Any] | None = None,
    *,
    raw_config: str | None = None,
    env: str | None = CLEAN_ENV,
    env_mode: int = 0o600,
    config_mode: int = 0o600,
) -> Bot:
    """Write a bot directory at `root`: the clean config merged with `config`
    (or `raw_config` verbatim), a `.env` (None: no .env) and a workspace."""
    root.mkdir(parents=True, exist_ok=True)
    workspace = root / "workspace"
    workspace.mkdir(exist_ok=True)
    config_file = root / "config.yml"
    text = (
        raw_config if raw_config is not None else yaml.safe_dump(merge(CLEAN_CONFIG, config or {}))
    )
    config_file.write_text(text)
    os.chmod(config_file, config_mode)
    env_file = root / ".env"
    if env is not None:
        env_file.write_text(env)
        os.chmod(env_file, env_mode)
    return Bot(root=root, config=config_file, env=env_file, workspace=workspace)


async def probe_ok(tools: ToolsConfig) -> SandboxProbe:
    mode = tools.sandbox
    backend = SandboxMode.BUBBLEWRAP if mode is SandboxMode.AUTO else mode
    return SandboxProbe(backend=backend, available=True, detail="fake probe: works")


async def probe_missing(tools: ToolsConfig) -> SandboxProbe:
    return SandboxProbe(backend=None, available=False, detail="bwrap not found on PATH")


async def probe_must_not_run(tools: ToolsConfig) -> SandboxProbe:
    raise AssertionError(f"the probe must not run for {tools.sandbox}")
