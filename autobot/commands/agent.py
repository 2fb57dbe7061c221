"""`autobot agent [-m MESSAGE] [-s SESSION]`: the agent stack in a terminal.

`agent_command` runs the gateway's own tree (`autobot.app`) without the HTTP
actor: log actor (writing only `logs/autobot.log`, so the terminal stays
clean), sandbox pool, channel supervisor and session router, with the
terminal (`autobot.channels.terminal`) as the only channel: a temporary
channel actor that reports how the conversation ended on a one-shot
channel this command owns, after which the command stops the tree
gracefully. With `message` it prints the final reply and returns 0, or 1
when the turn ended in an apology (the provider failed: the log-safe
reason, e.g. `HTTP 401 authentication_error`, goes to `stderr`, redacted,
details in the log). Without it, an interactive chat on `stdin`/`stdout`.
Configuration problems (no provider configured, sandbox unavailable,
sessions inside the workspace, bot files the process cannot open) and a
tree that fails print one clear line to `stderr` and return 1.

`agent_main` is the command with the gateway's start-up gate first
(`autobot.doctor.gate.admit`: every doctor check, the same report, the same
refusal and exit code as `autobot gateway`); `run_agent` is the CLI's
synchronous entry point for it.

Signals, as for every command (`autobot.runtime.lifetime`): the first
SIGINT/SIGTERM prints one line, hangs up the terminal and stops the tree
gracefully (a turn in progress may finish within the router's grace); a
second one stops at once; during start-up nothing is started. The
conversation was interrupted either way: the exit status is 128 + signal
(130 for Ctrl-C, 143 for SIGTERM), never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import attrs
import trio

from autobot.app import Gateway, build_gateway
from autobot.channels.terminal import TerminalOutcome, terminal_channel
from autobot.config.load import LoadedConfig
from autobot.doctor.gate import REFUSED_EXIT_CODE, admit
from autobot.doctor.sandbox_check import SandboxProber
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.logs.sinks import LOG_FILE_NAME
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

STOPPING_TEXT = "autobot: interrupted, stopping (press Ctrl-C again to quit at once)\n"
# The terminal's outcome: one value per conversation, sent once, never waited on.
OUTCOME_CHANNEL_SIZE = 1

# What loads the bot's configuration: None when it refused (and said why).
Admission = Callable[[], Awaitable[LoadedConfig | None]]


def parse_session(session: str) -> tuple[str, str]:
    """`channel:chat_id` from `-s`; a bare name is a chat of channel `cli`."""
    channel, colon, chat_id = session.partition(":")
    if colon and channel and chat_id:
        return channel, chat_id
    return "cli", session or "default"


@attrs.frozen(kw_only=True)
class Conversation:
    """What start-up built: the tree with the terminal in it, both ends of the
    terminal's one-shot outcome channel, and the event that hangs it up."""

    gateway: Gateway
    outcome_sender: trio.MemorySendChannel[TerminalOutcome]
    outcomes: trio.MemoryReceiveChannel[TerminalOutcome]
    hang_up: trio.Event


@attrs.frozen(kw_only=True)
class AgentCommand:
    """`autobot agent` for its lifetime: the terminal as the only channel, no
    HTTP actor; a first signal interrupts the conversation."""

    admission: Admission
    message: str | None
    session: str
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO

    @property
    def first_signal(self) -> FirstSignal:
        return FirstSignal.INTERRUPTS

    async def start(self) -> Conversation | Refused:
        """Load (or refuse) and build the tree: `Refused` said why on stderr."""
        loaded = await self.admission()
        if loaded is None:
            return Refused(REFUSED_EXIT_CODE)
        channel, chat_id = parse_session(self.session)
        sender, outcomes = trio.open_memory_channel[TerminalOutcome](OUTCOME_CHANNEL_SIZE)
        hang_up = trio.Event()
        terminal = terminal_channel(
            name=channel,
            chat_id=chat_id,
            message=self.message,
            stdin=self.stdin,
            stdout=self.stdout,
            outcome=sender,
            hang_up=hang_up,
        )
        try:
            # No cron here: the bot's jobs run in `autobot gateway`, never twice.
            gateway = build_gateway(loaded, serve_http=False, channels=[terminal], run_cron=False)
        except (ProviderConfigError, ValueError, OSError) as exc:
            sender.close()
            outcomes.close()
            if isinstance(exc, OSError):  # a bot file or directory it cannot open
                reason = f"cannot start the agent: {_describe_os_error(exc, loaded)}"
            else:
                reason = str(exc)
            self.stderr.write(f"autobot: {reason}\n")
            return Refused(1)
        return Conversation(
            gateway=gateway, outcome_sender=sender, outcomes=outcomes, hang_up=hang_up
        )

    async def abandon(self, started: Conversation | None, signum: int) -> None:
        self._interrupted_start_up(signum)
        if started is not None:
            started.outcome_sender.close()
            started.outcomes.close()
            await started.gateway.discard()

    async def run(self, started: Conversation, life: Lifetime) -> int:
        gateway = started.gateway
        redactor = Redactor(gateway.loaded.secret_values)

        def interrupt() -> None:
            self.stderr.write(STOPPING_TEXT)
            self.stderr.flush()
            started.hang_up.set()
            gateway.stop()

        life.running(interrupt)
        failure: str | None = None
        outcome: TerminalOutcome | None = None
        try:
            with started.outcome_sender, started.outcomes:
                outcome = await _converse(started)
        except* ChildStartFailed as group:  # the nursery wraps it in a group
            start_failure = group.exceptions[0]
            assert isinstance(start_failure, ChildStartFailed)
            cause = start_failure.error if start_failure.error is not None else start_failure
            failure = str(cause)
        except* SupervisorGaveUp as group:
            failure = f"agent stopped: {group.exceptions[0]}"
        if failure is not None:
            self.stderr.write(f"autobot: {redactor.redact(failure)}\n")
            return 1
        return self._report(outcome, gateway.loaded, redactor)

    def stopped_immediately(self, signum: int, *, first_acted_on: bool) -> None:
        """One line in all: the first signal's (stopping, or start-up abandoned),
        or, when both came before it was said, this one."""
        if not first_acted_on:
            self._interrupted_start_up(signum)

    def _interrupted_start_up(self, signum: int) -> None:
        name = signal_name(signum)
        self.stderr.write(f"autobot: interrupted during start-up ({name}); nothing was started.\n")

    def _report(
        self, outcome: TerminalOutcome | None, loaded: LoadedConfig, redactor: Redactor
    ) -> int:
        """The exit code for how the conversation ended; says why when it is 1
        (an interruption was already said by the signal's line)."""
        log_file = loaded.logs_dir / LOG_FILE_NAME
        if outcome is None:
            self.stderr.write(
                "autobot: the terminal stopped without ending the conversation; "
                f"details in {log_file}\n"
            )
            return 1
        if outcome.failure is not None:
            reason = redactor.redact(outcome.failure)
            self.stderr.write(f"autobot: the turn failed: {reason}; details in {log_file}\n")
        return outcome.exit_code


async def _converse(started: Conversation) -> TerminalOutcome | None:
    """Run the tree until the terminal reports how the conversation ended (None:
    it ended without reporting), then stop the tree gracefully and wait for it.
    Raises what the tree raises (in a group)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(started.gateway.run)
        # The terminal reports on its own clone from here on: if it ends
        # without reporting, the channel ends.
        started.outcome_sender.close()
        outcome: TerminalOutcome | None = None
        try:
            outcome = await started.outcomes.receive()
        except trio.EndOfChannel:
            pass
        started.gateway.stop()
    return outcome


async def agent_command(
    loaded: LoadedConfig,
    *,
    message: str | None,
    session: str,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    early_signals: Sequence[int] = (),
) -> int:
    """Run `autobot agent` for `loaded` (secrets already resolved); returns the
    process exit code (see the module docstring). Must run in the main
    thread (it watches SIGINT/SIGTERM); `early_signals` arrived before Trio
    started."""

    async def given() -> LoadedConfig:
        return loaded

    command = AgentCommand(
        admission=given,
        message=message,
        session=session,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )
    return await live(command, early_signals=early_signals)


def _gated_command(
    config_path: Path,
    *,
    message: str | None,
    session: str,
    environ: Mapping[str, str],
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    home: Path,
    probe: SandboxProber,
    as_root: bool,
) -> AgentCommand:
    async def admission() -> LoadedConfig | None:
        return await admit(
            config_path,
            command="agent",
            environ=environ,
            stderr=stderr,
            home=home,
            probe=probe,
            as_root=as_root,
        )

    return AgentCommand(
        admission=admission,
        message=message,
        session=session,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
    )


async def agent_main(
    config_path: Path,
    *,
    message: str | None,
    session: str,
    environ: Mapping[str, str],
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    home: Path,
    probe: SandboxProber = probe_configured,
    as_root: bool = False,
    early_signals: Sequence[int] = (),
) -> int:
    """`autobot agent` from the bot's config file: `admit` (the doctor's
    report on `stderr`; `REFUSED_EXIT_CODE` on any error, nothing started),
    then the conversation with the loaded configuration. `environ`, `home`,
    `probe` and `as_root` are what the doctor takes. Must run in the main
    thread (see `agent_command`)."""
    command = _gated_command(
        config_path,
        message=message,
        session=session,
        environ=environ,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        home=home,
        probe=probe,
        as_root=as_root,
    )
    return await live(command, early_signals=early_signals)


def run_agent(
    config_path: Path,
    *,
    message: str | None,
    session: str,
    environ: Mapping[str, str],
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    home: Path | None = None,
    as_root: bool = False,
) -> int:
    """Synchronous entry point for the CLI: `agent_main` through
    `autobot.runtime.lifetime.run_command` (signals recorded before Trio
    starts, ignored once the exit code is decided)."""
    return run_command(
        _gated_command(
            config_path,
            message=message,
            session=session,
            environ=environ,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            home=Path.home() if home is None else home,
            probe=probe_configured,
            as_root=as_root,
        )
    )


def _describe_os_error(exc: OSError, loaded: LoadedConfig) -> str:
    """`reason: path` with the path relative to the bot directory when inside it."""
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return reason
    path = Path(os.fsdecode(exc.filename))
    shown = path.relative_to(loaded.bot_dir) if path.is_relative_to(loaded.bot_dir) else path
    return f"{reason}: {shown}"
