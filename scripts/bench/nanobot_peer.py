"""nanobot as a benchmark peer: `nanobot-ai` from PyPI in a scratch venv, set up as its docs say.

`prepare_nanobot` makes (or reuses) a venv with `nanobot-ai==<version>`,
then, with HOME in the scratch directory (all of nanobot's state lives in
`~/.nanobot`), runs `nanobot onboard` and `nanobot plugins enable telegram`
(which installs python-telegram-bot). `nanobot_launch` then edits
`~/.nanobot/config.json` for one measurement:
- Telegram enabled with the fake's token and `allowFrom: ["*"]`, streaming
  off: the Bot API fake has no `editMessageText`, and without streaming a
  reply is one `sendMessage`, as autobot's is (nanobot's cheaper path);
- the Anthropic provider (`providers.anthropic.apiBase`, the official SDK)
  at the same model fake autobot uses;
- the WebUI websocket channel, Dream and the heartbeat off (ports and timers
  that have nothing to do with the measurement); the gateway's health port
  free.
Its own defaults otherwise, including unlimited concurrent requests
(`NANOBOT_MAX_CONCURRENT_REQUESTS` unset). nanobot has no setting for the
Telegram API's address, so it runs through `bench/nanobot_launcher.py`.

Every step is bounded in time; a step that fails raises `PeerUnavailable`
saying which step and what the tool printed last.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.testing.gateway_process import free_port
from bench.launch import Fakes, GatewayLaunch, PeerUnavailable, clean_environment

NAME = "nanobot"
DEFAULT_VERSION = "0.3.5"  # the release the launcher and the config keys were checked against
LAUNCHER = Path(__file__).with_name("nanobot_launcher.py")
INSTALL_SECONDS = 900.0  # ~95 packages from PyPI on a slow day
STEP_SECONDS = 300.0  # onboard; plugins enable telegram (pip installs python-telegram-bot)
TAIL_LINES = 6


@attrs.frozen(kw_only=True)
class NanobotSetup:
    """An installed, onboarded nanobot: its venv and its HOME."""

    venv: Path
    home: Path
    version: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def config_path(self) -> Path:
        return self.home / ".nanobot" / "config.json"


def _tail(output: bytes) -> str:
    lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return " | ".join((errors or lines)[-TAIL_LINES:]) or "(no output)"


async def _step(what: str, argv: list[str], env: dict[str, str], seconds: float) -> bytes:
    """Run one set-up command; its output. Raises `PeerUnavailable`."""
    with trio.move_on_after(seconds) as waiting:
        done = await trio.run_process(
            argv, env=env, stdin=b"", capture_stdout=True, capture_stderr=True, check=False
        )
    if waiting.cancelled_caught:
        raise PeerUnavailable(f"{what} did not finish within {seconds:.0f} s")
    output: bytes = done.stdout + done.stderr
    if done.returncode != 0:
        raise PeerUnavailable(f"{what} failed (exit {done.returncode}): {_tail(output)}")
    return output


async def _installed_version(python: Path, env: dict[str, str]) -> str | None:
    if not await trio.Path(python).exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('nanobot-ai'))"
    done = await trio.run_process(
        [str(python), "-c", probe], env=env, capture_stdout=True, capture_stderr=True, check=False
    )
    return done.stdout.decode().strip() if done.returncode == 0 else None


async def prepare_nanobot(venv: Path, home: Path, version: str) -> NanobotSetup:
    """nanobot `version` installed in `venv` (reused when it already holds that
    version) and onboarded under `home`. Raises `PeerUnavailable`."""
    env = clean_environment(HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    setup = NanobotSetup(venv=venv, home=home, version=version)
    if await _installed_version(setup.python, env) != version:
        await _step("creating the venv", [sys.executable, "-m", "venv", str(venv)], env, 120.0)
        install = [str(setup.python), "-m", "pip", "install", f"nanobot-ai=={version}"]
        await _step(f"pip install nanobot-ai=={version}", install, env, INSTALL_SECONDS)
    await trio.Path(home).mkdir(parents=True, exist_ok=True)
    nanobot = str(venv / "bin" / "nanobot")
    await _step("nanobot onboard", [nanobot, "onboard"], env, STEP_SECONDS)
    enable = [nanobot, "plugins", "enable", "telegram"]
    await _step("nanobot plugins enable telegram", enable, env, STEP_SECONDS)
    if not await trio.Path(setup.config_path).is_file():
        raise PeerUnavailable(f"nanobot onboard wrote no {setup.config_path}")
    return setup


def _section(config: dict[str, Any], *path: str) -> dict[str, Any]:
    """The object at `path` in nanobot's config, created if missing; raises
    `PeerUnavailable` if something else is there (another config format)."""
    node = config
    for key in path:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise PeerUnavailable(f"nanobot's config has no object at {'.'.join(path)}")
    return node


def configure(config: dict[str, Any], fakes: Fakes, port: int) -> None:
    """Edit nanobot's config (as onboard wrote it) as the module docstring says."""
    telegram = _section(config, "channels", "telegram")
    telegram.update(enabled=True, token=fakes.telegram_token, allowFrom=["*"], streaming=False)
    _section(config, "channels", "websocket")["enabled"] = False
    _section(config, "providers", "anthropic").update(
        apiKey="sk-ant-bench-not-a-real-key", apiBase=fakes.model_url
    )
    defaults = _section(config, "agents", "defaults")
    defaults.update(provider="anthropic", model="anthropic/bench-model")
    _section(config, "agents", "defaults", "dream")["enabled"] = False
    _section(config, "gateway", "heartbeat")["enabled"] = False
    _section(config, "gateway")["port"] = port


def nanobot_launch(setup: NanobotSetup, fakes: Fakes) -> GatewayLaunch:
    """Point the onboarded nanobot at `fakes`; how to start its gateway.
    Raises `PeerUnavailable` when its config is not what onboard writes."""
    try:
        config = json.loads(setup.config_path.read_text())
    except (OSError, ValueError) as error:
        raise PeerUnavailable(f"cannot read nanobot's config: {error}") from None
    if not isinstance(config, dict):
        raise PeerUnavailable("nanobot's config.json is not a JSON object")
    port = free_port()
    configure(config, fakes, port)
    setup.config_path.write_text(json.dumps(config, indent=2))
    return GatewayLaunch(
        argv=(
            str(setup.python),
            str(LAUNCHER),
            fakes.telegram_url,
            "gateway",
            "--foreground",
        ),
        env=clean_environment(HOME=str(setup.home)),
        cwd=setup.home,
        stop_signal=signal.SIGINT,
        settings=(
            f"nanobot-ai {setup.version} from PyPI in {setup.venv}; onboard + plugins enable "
            "telegram under a scratch HOME",
            "telegram: allowFrom ['*'], streaming off (one sendMessage per reply); "
            "provider anthropic at the same model fake",
            "websocket channel, dream and heartbeat off; everything else nanobot's defaults "
            "(NANOBOT_MAX_CONCURRENT_REQUESTS unset: unlimited)",
            f"health on 127.0.0.1:{port}; stopped with SIGINT",
        ),
    )
