"""The doctor as the start-up gate of `autobot gateway` and `autobot agent`.

Both commands take this one path before anything starts, so the same checks
decide both: `run_checks` runs every doctor check; any ERROR writes the report
and one refusal line to `stderr` and the command exits `REFUSED_EXIT_CODE`
with nothing started; WARNINGS only write the report (once) and the command
goes on with the configuration loaded again for real (a file changed since
the check is one `ConfigError` line and the same refusal code).

`autobot demo` runs the checks with rules of its own (its model is local, so
a missing provider does not stop it) and does not come through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import trio

from autobot.config import ConfigError, LoadedConfig, load_config
from autobot.doctor.render import render_text
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_check import SandboxProber

# What `gateway` and `agent` exit with when the doctor (or the load) refuses.
REFUSED_EXIT_CODE = 1


async def admit(
    config_path: Path,
    *,
    command: str,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path,
    probe: SandboxProber,
    as_root: bool,
) -> LoadedConfig | None:
    """Check the bot at `config_path` like `autobot doctor`, then load it.

    `command` names the refusing command in the refusal line ("gateway",
    "agent"); `environ`, `home`, `probe` and `as_root` are what `run_checks`
    takes. Returns the loaded configuration, or None when the command must
    exit `REFUSED_EXIT_CODE` (the reason is already on `stderr`). Raises
    nothing for a broken bot.
    """
    report = await run_checks(config_path, environ=environ, probe=probe, home=home, as_root=as_root)
    if report.errors:
        stderr.write(render_text(report))
        stderr.write(f"autobot: the {command} refuses to start until these errors are fixed.\n")
        return None
    if report.warnings:
        stderr.write(render_text(report))
    # one blocking load, after the doctor's own: a single worker is enough
    disk = trio.CapacityLimiter(1)
    try:
        return await trio.to_thread.run_sync(load_config, config_path, environ, limiter=disk)
    except ConfigError as exc:  # changed between the check and the load
        stderr.write(f"autobot: {exc}\n")
        return None
