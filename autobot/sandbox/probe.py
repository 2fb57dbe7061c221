"""Find out which sandbox backend really works here (used by start-up and doctor).

A backend counts as available only if it actually runs: bubblewrap is probed
by starting the same kind of sandbox the workers use around `/usr/bin/true`,
docker by `docker info` answering with exit 0.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import attrs
import trio

from autobot.config.schema import SandboxMode
from autobot.sandbox.bwrap import BWRAP, bwrap_argv
from autobot.sandbox.policy import SANDBOX_PATH, SandboxPolicy, host_system_mounts

PROBE_SECONDS = 10.0  # a healthy bwrap answers in milliseconds, docker info in about a second
DOCKER = "docker"


@attrs.frozen(kw_only=True)
class SandboxProbe:
    """The outcome: the backend that would be used (None if none), and why."""

    backend: SandboxMode | None
    available: bool
    detail: str


async def probe_sandbox(mode: SandboxMode) -> SandboxProbe:
    """Probe for `mode`: an explicit choice is honoured, `auto` tries bubblewrap then docker.

    Never raises for a missing or broken backend: that is reported in the result.
    """
    if mode is SandboxMode.NONE:
        return SandboxProbe(
            backend=SandboxMode.NONE, available=True, detail="workspace restrictions disabled"
        )
    details: list[str] = []
    if mode in (SandboxMode.AUTO, SandboxMode.BUBBLEWRAP):
        works, detail = await _probe_bwrap()
        if works:
            return SandboxProbe(backend=SandboxMode.BUBBLEWRAP, available=True, detail=detail)
        details.append(detail)
    if mode in (SandboxMode.AUTO, SandboxMode.DOCKER):
        works, detail = await _probe_docker()
        if works:
            return SandboxProbe(backend=SandboxMode.DOCKER, available=True, detail=detail)
        details.append(detail)
    return SandboxProbe(backend=None, available=False, detail="; ".join(details))


async def _probe_bwrap() -> tuple[bool, str]:
    executable = shutil.which(BWRAP)
    if executable is None:
        return False, "bwrap not found on PATH"
    system, etc = host_system_mounts()
    with tempfile.TemporaryDirectory(prefix="autobot-probe-") as empty:
        policy = SandboxPolicy(workspace=Path(empty), system=system, etc=etc)
        argv = bwrap_argv(policy, ["/usr/bin/true"])
        return await _run("bubblewrap", [executable, *argv[1:]])


async def _probe_docker() -> tuple[bool, str]:
    executable = shutil.which(DOCKER)
    if executable is None:
        return False, "docker not found on PATH"
    return await _run("docker", [executable, "info", "--format", "{{.ServerVersion}}"])


async def _run(name: str, argv: list[str]) -> tuple[bool, str]:
    """Run `argv` once with a bound; (works, human detail)."""
    with trio.move_on_after(PROBE_SECONDS):
        try:
            result = await trio.run_process(
                argv,
                check=False,
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
                env={"PATH": SANDBOX_PATH},
            )
        except OSError as exc:
            return False, f"{name} could not be started: {exc}"
        if result.returncode == 0:
            return True, f"{name} works"
        stderr = result.stderr.decode("utf-8", "replace").strip() or "no error output"
        return False, f"{name} probe failed (exit {result.returncode}): {stderr[-500:]}"
    return False, f"{name} probe did not answer within {PROBE_SECONDS:g} s"
