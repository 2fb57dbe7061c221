"""`autobot gateway`: check the bot like `doctor`, then run its tree until signalled.

Any doctor error prints the report and exits 1 before anything starts. The
first SIGINT/SIGTERM stops the tree gracefully (reverse start order, each
child's grace), a second one stops it immediately. Start-up failures (a port
in use, a missing sandbox) and a supervisor giving up exit 1 with one
redacted line, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import trio

from autobot.app import build_gateway
from autobot.config import ConfigError, load_config
from autobot.doctor.render import render_text
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_check import SandboxProber
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.runtime import ChildStartFailed, SupervisorGaveUp, run_until_signalled
from autobot.sandbox.probe import probe_sandbox


async def serve(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path,
    probe: SandboxProber = probe_sandbox,
    as_root: bool = False,
) -> int:
    """The whole `autobot gateway` command under Trio; returns the exit code."""
    report = await run_checks(config_path, environ=environ, probe=probe, home=home, as_root=as_root)
    if report.errors:
        stderr.write(render_text(report))
        stderr.write("autobot: the gateway refuses to start until these errors are fixed.\n")
        return 1
    if report.warnings:
        stderr.write(render_text(report))
    try:
        loaded = await trio.to_thread.run_sync(load_config, config_path, environ)
    except ConfigError as exc:  # changed between the check and the load
        stderr.write(f"autobot: {exc}\n")
        return 1
    try:
        gateway = build_gateway(loaded, echo=stderr)
    except ProviderConfigError as exc:
        stderr.write(f"autobot: {exc}\n")
        return 1
    try:
        outcome = await run_until_signalled(gateway.run, on_first=lambda _signum: gateway.stop())
    except (ChildStartFailed, SupervisorGaveUp) as exc:
        reason = Redactor(loaded.secret_values).redact(str(exc))
        stderr.write(f"autobot: gateway stopped: {reason}\n")
        return 1
    stderr.write(f"autobot: gateway stopped ({outcome.value}).\n")
    return 0


def gateway_main(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path | None = None,
    as_root: bool = False,
) -> int:
    """Synchronous entry point for the CLI."""
    return trio.run(
        lambda: serve(
            config_path,
            environ=environ,
            stderr=stderr,
            home=Path.home() if home is None else home,
            as_root=as_root,
        )
    )
