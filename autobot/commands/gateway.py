"""`autobot gateway`: check the bot like `doctor`, then run its tree until signalled.

Any doctor error prints the report and exits 1 before anything starts (the
start-up gate `autobot.doctor.gate`, shared with `autobot agent`). Signals
are handled over the command's whole life, start-up and teardown included,
by `autobot.runtime.lifetime` (shared with `agent` and `demo`). Exit codes:

    0       stopped gracefully by a first SIGINT/SIGTERM: the tree stopped in
            reverse start order, each child within its grace, or, during
            start-up, start-up was abandoned before anything ran; also when
            the tree finishes on its own
    1       refused to start (doctor errors, config, provider, a port in use)
            or the tree failed (a supervisor gave up), with one redacted line
    128+N   stopped immediately by a second signal N before the graceful stop
            finished (130 for SIGINT, 143 for SIGTERM); never a traceback
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

import attrs

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.doctor.gate import REFUSED_EXIT_CODE, admit
from autobot.doctor.sandbox_check import SandboxProber
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.runtime import ChildStartFailed, SupervisorGaveUp
from autobot.runtime.lifetime import (
    FirstSignal,
    Lifetime,
    Refused,
    live,
    run_command,
    signal_name,
)
from autobot.sandbox.probe import probe_configured


@attrs.frozen(kw_only=True)
class GatewayCommand:
    """`autobot gateway` for its lifetime: the bot's chat channels and the HTTP
    actor, log lines echoed to `stderr`; a first signal is a graceful stop.
    `environ`, `home`, `probe` and `as_root` are what the doctor takes."""

    config_path: Path
    environ: Mapping[str, str]
    stderr: TextIO
    home: Path
    probe: SandboxProber = probe_configured
    as_root: bool = False

    @property
    def first_signal(self) -> FirstSignal:
        return FirstSignal.STOPS

    async def start(self) -> Gateway | Refused:
        """Check, load and build: the gateway, or `Refused` (said why on stderr)."""
        loaded = await admit(
            self.config_path,
            command="gateway",
            environ=self.environ,
            stderr=self.stderr,
            home=self.home,
            probe=self.probe,
            as_root=self.as_root,
        )
        if loaded is None:
            return Refused(REFUSED_EXIT_CODE)
        try:
            # ValueError: what select_provider raises for a malformed model (doctor
            # reports it first, so only a file changed since the check gets here)
            return build_gateway(loaded, echo=self.stderr, channels=chat_channels(loaded))
        except (ProviderConfigError, ValueError, OSError) as exc:
            reason = Redactor(loaded.secret_values).redact(str(exc))
            self.stderr.write(f"autobot: cannot start the gateway: {reason}\n")
            return Refused(1)

    async def abandon(self, started: Gateway | None, signum: int) -> None:
        # On a terminal, Ctrl-C also reaches the sandbox probe, whose failure is no finding.
        if started is not None:
            await started.discard()
        self.stderr.write(
            f"autobot: gateway stopped during start-up ({signal_name(signum)}); "
            "nothing was started.\n"
        )

    async def run(self, started: Gateway, life: Lifetime) -> int:
        life.running(started.stop)
        try:
            await started.run()
        except (ChildStartFailed, SupervisorGaveUp) as exc:
            reason = Redactor(started.loaded.secret_values).redact(str(exc))
            self.stderr.write(f"autobot: gateway stopped: {reason}\n")
            return 1
        how = "finished" if life.first_signal is None else "graceful"
        self.stderr.write(f"autobot: gateway stopped ({how}).\n")
        return 0

    def stopped_immediately(self, signum: int, *, first_acted_on: bool) -> None:
        self.stderr.write(f"autobot: gateway stopped immediately ({signal_name(signum)}).\n")


async def serve(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path,
    probe: SandboxProber = probe_configured,
    as_root: bool = False,
    early_signals: Sequence[int] = (),
) -> int:
    """The whole `autobot gateway` command under Trio; returns the exit code.

    Must run in the main thread (it watches SIGINT/SIGTERM). `early_signals`
    are signals received before Trio started; they count as if they arrived
    first.
    """
    command = GatewayCommand(
        config_path=config_path,
        environ=environ,
        stderr=stderr,
        home=home,
        probe=probe,
        as_root=as_root,
    )
    return await live(command, early_signals=early_signals)


def gateway_main(
    config_path: Path,
    *,
    environ: Mapping[str, str],
    stderr: TextIO,
    home: Path | None = None,
    as_root: bool = False,
) -> int:
    """Synchronous entry point for the CLI (`autobot.runtime.lifetime.run_command`)."""
    return run_command(
        GatewayCommand(
            config_path=config_path,
            environ=environ,
            stderr=stderr,
            home=Path.home() if home is None else home,
            as_root=as_root,
        )
    )
