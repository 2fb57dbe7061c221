"""`autobot gateway`: check the bot like `doctor`, then run its tree until signalled.

Any doctor error prints the report and exits 1 before anything starts (the
start-up gate `autobot.doctor.gate`, shared with `autobot agent`). Signal
handling covers the whole life of the command, start-up and teardown
included (see `autobot.gateway.lifetime`, which also lists the exit codes):
the first SIGINT/SIGTERM stops gracefully (during start-up: abandons it,
exit 0; once running: reverse start order, each child's grace, exit 0), a
second one stops immediately (exit 128 + the signal number). Start-up
failures (a port in use, a missing sandbox) and a supervisor giving up exit
1 with one redacted line, never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import trio

from autobot.app import PROVIDER_CLOSE_SECONDS, Gateway, build_gateway, chat_channels
from autobot.doctor.gate import REFUSED_EXIT_CODE, admit
from autobot.doctor.sandbox_check import SandboxProber
from autobot.gateway.lifetime import (
    IMMEDIATE_EXIT_BASE,
    Lifetime,
    ignore_signals_at_exit,
    signal_name,
    signals_recorded,
)
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.runtime import ChildStartFailed, SupervisorGaveUp, run_until_signalled
from autobot.sandbox.probe import probe_sandbox


async def _start(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path,
    probe: SandboxProber,
    as_root: bool,
) -> Gateway | int:
    """Check, load and build (inside `life.startup`): the gateway, or an exit code."""
    loaded = await admit(
        config_path,
        command="gateway",
        environ=environ,
        stderr=stderr,
        home=home,
        probe=probe,
        as_root=as_root,
    )
    if loaded is None:
        return REFUSED_EXIT_CODE
    try:
        # ValueError: what select_provider raises for a malformed model (doctor
        # reports it first, so only a file changed since the check gets here)
        return build_gateway(loaded, echo=stderr, channels=chat_channels(loaded))
    except (ProviderConfigError, ValueError, OSError) as exc:
        reason = Redactor(loaded.secret_values).redact(str(exc))
        stderr.write(f"autobot: cannot start the gateway: {reason}\n")
        return 1


async def _close_unstarted(gateway: Gateway) -> None:
    with trio.move_on_after(PROVIDER_CLOSE_SECONDS, shield=True):
        await gateway.provider.aclose()


async def _live(
    life: Lifetime,
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path,
    probe: SandboxProber,
    as_root: bool,
) -> int:
    """Start-up then run; the exit code of everything but an immediate stop."""
    started: Gateway | int | None = None
    with life.startup:
        started = await _start(
            config_path,
            environ=environ,
            stderr=stderr,
            home=home,
            probe=probe,
            as_root=as_root,
        )
    # A signal during start-up wins over what start-up concluded: on a terminal,
    # Ctrl-C also reaches the sandbox probe, whose failure is no finding.
    if life.received:
        if isinstance(started, Gateway):
            await _close_unstarted(started)
        name = signal_name(life.received[0])
        stderr.write(f"autobot: gateway stopped during start-up ({name}); nothing was started.\n")
        return 0
    if not isinstance(started, Gateway):
        assert started is not None  # only a signal cancels start-up
        return started
    gateway = started
    life.running(gateway.stop)
    try:
        await gateway.run()
    except (ChildStartFailed, SupervisorGaveUp) as exc:
        reason = Redactor(gateway.loaded.secret_values).redact(str(exc))
        stderr.write(f"autobot: gateway stopped: {reason}\n")
        return 1
    stderr.write(f"autobot: gateway stopped ({'graceful' if life.received else 'finished'}).\n")
    return 0


async def serve(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path,
    probe: SandboxProber = probe_sandbox,
    as_root: bool = False,
    early_signals: Sequence[int] = (),
) -> int:
    """The whole `autobot gateway` command under Trio; returns the exit code.

    Must run in the main thread (it watches SIGINT/SIGTERM). `early_signals`
    are signals received before Trio started (see `signals_recorded`); they
    count as if they arrived first.
    """
    life = Lifetime()
    codes: list[int] = []

    async def main() -> None:
        for signum in early_signals:
            life.on_signal(signum)
        with life.whole:
            codes.append(
                await _live(
                    life,
                    config_path,
                    environ=environ,
                    stderr=stderr,
                    home=home,
                    probe=probe,
                    as_root=as_root,
                )
            )

    await run_until_signalled(main, on_first=life.on_signal, on_second=life.on_signal)
    immediate = life.immediate_signal
    if immediate is not None:
        stderr.write(f"autobot: gateway stopped immediately ({signal_name(immediate)}).\n")
        return IMMEDIATE_EXIT_BASE + immediate
    return codes[0]


def gateway_main(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path | None = None,
    as_root: bool = False,
) -> int:
    """Synchronous entry point for the CLI: Trio runs inside `signals_recorded`,
    and the interpreter's shutdown after it ignores SIGINT/SIGTERM."""
    with signals_recorded() as early:
        code = trio.run(
            functools.partial(
                serve,
                config_path,
                environ=environ,
                stderr=stderr,
                home=Path.home() if home is None else home,
                as_root=as_root,
                early_signals=early,
            )
        )
    ignore_signals_at_exit()
    return code
