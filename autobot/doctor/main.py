"""`autobot doctor` entry point for the CLI: check, render, return the exit code."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import trio

from autobot.doctor.render import render_json, render_text
from autobot.doctor.run import run_checks
from autobot.doctor.sandbox_check import SandboxProber
from autobot.sandbox.probe import probe_configured


async def doctor(
    config_path: Path,
    *,
    strict: bool,
    as_json: bool,
    environ: Mapping[str, str],
    out: TextIO,
    home: Path,
    probe: SandboxProber = probe_configured,
    as_root: bool = False,
) -> int:
    """Run every check on the bot at `config_path`, write the report to `out`,
    and return the exit code: 1 on errors (or on warnings when `strict`), else 0."""
    report = await run_checks(config_path, environ=environ, probe=probe, home=home, as_root=as_root)
    out.write(render_json(report, strict=strict) if as_json else render_text(report))
    return report.exit_code(strict=strict)


def doctor_main(
    config_path: Path,
    *,
    strict: bool,
    as_json: bool,
    environ: Mapping[str, str],
    out: TextIO,
    home: Path | None = None,
    probe: SandboxProber = probe_configured,
    as_root: bool = False,
) -> int:
    """Synchronous wrapper for the CLI (`trio.run`); `home` defaults to `Path.home()`.

    From code already running under Trio (gateway start-up), await `doctor`
    or `run_checks` instead.
    """
    return trio.run(
        lambda: doctor(
            config_path,
            strict=strict,
            as_json=as_json,
            environ=environ,
            out=out,
            home=Path.home() if home is None else home,
            probe=probe,
            as_root=as_root,
        )
    )
