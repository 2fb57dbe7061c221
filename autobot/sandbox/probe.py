"""Find out which sandbox backend really works here (used by start-up and doctor).

A backend counts as available only if it actually runs: bubblewrap is probed
by starting the same sandbox the workers use (user namespace and identity of
a root gateway, seccomp filter, /proc hardening) around the worker's
`--check`, which exits 0 only when it runs unprivileged, without any
capability, under no_new_privs and seccomp; docker by `docker info`
answering with exit 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import attrs
import trio

from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.sandbox.bwrap import BWRAP, bwrap_argv, worker_command
from autobot.sandbox.policy import (
    SANDBOX_PATH,
    SandboxPolicy,
    host_proc_entries,
    host_system_mounts,
)
from autobot.sandbox.seccomp import UnsupportedArchitecture
from autobot.sandbox.spawn_files import SpawnFiles
from autobot.sandbox.userns import (
    SandboxIdentity,
    UserNamespaceError,
    create_user_namespace,
    default_identity,
)

PROBE_SECONDS = 10.0  # a healthy bwrap answers in milliseconds, docker info in about a second
DOCKER = "docker"


@attrs.frozen(kw_only=True)
class SandboxProbe:
    """The outcome: the backend that would be used (None if none), and why."""

    backend: SandboxMode | None
    available: bool
    detail: str


async def probe_sandbox(
    mode: SandboxMode, identity: SandboxIdentity | Literal["default"] | None = "default"
) -> SandboxProbe:
    """Probe for `mode`: an explicit choice is honoured, `auto` tries bubblewrap then docker.

    `identity` is the account a root gateway's sandbox runs as; "default" is
    what the default `tools.sandbox_uid/gid` give for this process (None when
    it is not root). Without an identity, a root probe fails: the worker
    refuses to serve as uid 0.

    Never raises for a missing or broken backend: that is reported in the result.
    """
    if mode is SandboxMode.NONE:
        return SandboxProbe(
            backend=SandboxMode.NONE, available=True, detail="workspace restrictions disabled"
        )
    if identity == "default":
        identity = default_identity(os.geteuid())
    details: list[str] = []
    if mode in (SandboxMode.AUTO, SandboxMode.BUBBLEWRAP):
        works, detail = await _probe_bwrap(identity)
        if works:
            return SandboxProbe(backend=SandboxMode.BUBBLEWRAP, available=True, detail=detail)
        details.append(detail)
    if mode in (SandboxMode.AUTO, SandboxMode.DOCKER):
        works, detail = await _probe_docker()
        if works:
            return SandboxProbe(backend=SandboxMode.DOCKER, available=True, detail=detail)
        details.append(detail)
    return SandboxProbe(backend=None, available=False, detail="; ".join(details))


async def probe_configured(tools: ToolsConfig) -> SandboxProbe:
    """The probe for a bot's `tools` settings as this process would run them:
    its sandbox mode and, as root, its `sandbox_uid:sandbox_gid` identity
    (what the doctor and the start-up gate check)."""
    identity = default_identity(os.geteuid(), tools.sandbox_uid, tools.sandbox_gid)
    return await probe_sandbox(tools.sandbox, identity)


async def _probe_bwrap(identity: SandboxIdentity | None) -> tuple[bool, str]:
    executable = shutil.which(BWRAP)
    if executable is None:
        return False, "bwrap not found on PATH"
    system, etc = host_system_mounts()
    proc_readonly, proc_hidden = host_proc_entries()
    userns: int | None = None
    with tempfile.TemporaryDirectory(prefix="autobot-probe-") as empty:
        try:
            if identity is not None:
                os.chown(empty, identity.uid, identity.gid)
                userns = await trio.to_thread.run_sync(create_user_namespace, identity)
            files = SpawnFiles.build(identity, userns)
        except (OSError, UserNamespaceError, UnsupportedArchitecture) as exc:
            return False, f"bubblewrap sandbox cannot be prepared: {exc}"
        policy = SandboxPolicy(
            workspace=Path(empty),
            system=system,
            etc=etc,
            identity=identity,
            proc_readonly=proc_readonly,
            proc_hidden=proc_hidden,
        )
        command = (*worker_command(policy.limits, identity), "--check")
        try:
            with files.open_fds() as fds:
                argv = bwrap_argv(policy, command, fds=fds)
                # trio forks from a cached thread that may retire before the probe ends:
                # `--die-with-parent` would follow that thread. The probe exits by itself.
                argv.remove("--die-with-parent")
                return await _run("bubblewrap", [executable, *argv[1:]], pass_fds=fds.all())
        finally:
            if userns is not None:
                os.close(userns)


async def _probe_docker() -> tuple[bool, str]:
    executable = shutil.which(DOCKER)
    if executable is None:
        return False, "docker not found on PATH"
    return await _run("docker", [executable, "info", "--format", "{{.ServerVersion}}"])


async def _run(name: str, argv: list[str], pass_fds: tuple[int, ...] = ()) -> tuple[bool, str]:
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
                pass_fds=pass_fds,
            )
        except OSError as exc:
            return False, f"{name} could not be started: {exc}"
        if result.returncode == 0:
            return True, f"{name} works"
        stderr = result.stderr.decode("utf-8", "replace").strip() or "no error output"
        return False, f"{name} probe failed (exit {result.returncode}): {stderr[-500:]}"
    return False, f"{name} probe did not answer within {PROBE_SECONDS:g} s"
