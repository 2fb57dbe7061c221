"""`autobot agent [-m MESSAGE] [-s SESSION]`: the agent stack in a terminal.

`agent_command` runs the gateway's own tree (`autobot.app`) without the HTTP
actor: log actor (writing only `logs/autobot.log`, so the terminal stays
clean), sandbox pool and session router, with a `TerminalChannel` as the only
channel. With `message` it prints the final reply and returns 0, or 1 when
the turn ended in an apology (the provider failed: the log-safe reason, e.g.
`HTTP 401 authentication_error`, goes to `stderr`, redacted, details in the
log). Without it, an interactive chat on `stdin`/`stdout`. Configuration
problems (no provider configured, sandbox unavailable, sessions inside the
workspace, bot files the process cannot open) print one clear line to
`stderr` and return 1.

`agent_main` is the command as the CLI runs it: the gateway's start-up gate
first (`autobot.doctor.gate.admit`: every doctor check, the same report, the
same refusal and exit code as `autobot gateway`), then `agent_command`.

Signals as in the gateway: the first SIGINT/SIGTERM stops the conversation
and the tree gracefully (a turn in progress may finish within the router's
grace), a second one stops at once. Either way the exit status is
128 + signal (130 for Ctrl-C) with one line on `stderr`, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import trio

from autobot.app import Gateway, build_gateway
from autobot.channels.spec import ChannelSpec
from autobot.channels.terminal import TerminalChannel
from autobot.config.load import LoadedConfig
from autobot.doctor.gate import REFUSED_EXIT_CODE, admit
from autobot.doctor.sandbox_check import SandboxProber
from autobot.llm.selection import ProviderConfigError
from autobot.logs.redact import Redactor
from autobot.logs.sinks import LOG_FILE_NAME
from autobot.runtime import ChildStartFailed, run_until_signalled
from autobot.sandbox.probe import probe_sandbox

STOPPING_TEXT = "autobot: interrupted, stopping (press Ctrl-C again to quit at once)\n"


def parse_session(session: str) -> tuple[str, str]:
    """`channel:chat_id` from `-s`; a bare name is a chat of channel `cli`."""
    channel, colon, chat_id = session.partition(":")
    if colon and channel and chat_id:
        return channel, chat_id
    return "cli", session or "default"


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
    probe: SandboxProber = probe_sandbox,
    as_root: bool = False,
) -> int:
    """`autobot agent` from the bot's config file: `admit` (the doctor's
    report on `stderr`; `REFUSED_EXIT_CODE` on any error, nothing started),
    then `agent_command` with the loaded configuration. `environ`, `home`,
    `probe` and `as_root` are what the doctor takes. Must run in the main
    thread (see `agent_command`)."""
    loaded = await admit(
        config_path,
        command="agent",
        environ=environ,
        stderr=stderr,
        home=home,
        probe=probe,
        as_root=as_root,
    )
    if loaded is None:
        return REFUSED_EXIT_CODE
    return await agent_command(
        loaded, message=message, session=session, stdin=stdin, stdout=stdout, stderr=stderr
    )


async def agent_command(
    loaded: LoadedConfig,
    *,
    message: str | None,
    session: str,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO | None = None,
) -> int:
    """Run `autobot agent`; returns the process exit code (see module docstring).

    Configuration (secrets included) was already resolved into `loaded`.
    Must run in the main thread (it installs signal handlers).
    """
    err = stderr if stderr is not None else sys.stderr
    redactor = Redactor(loaded.secret_values)
    channel, chat_id = parse_session(session)
    try:
        gateway = build_gateway(loaded, serve_http=False, channels=[ChannelSpec(name=channel)])
    except (ProviderConfigError, ValueError) as exc:
        err.write(f"autobot: {exc}\n")
        return 1
    except OSError as exc:  # a bot file or directory it cannot open (permissions)
        err.write(f"autobot: cannot start the agent: {_describe_os_error(exc, loaded)}\n")
        return 1
    code = 1
    signalled: list[int] = []
    talking = trio.CancelScope()

    def stop_on_signal(signum: int) -> None:
        signalled.append(signum)
        err.write(STOPPING_TEXT)
        err.flush()
        talking.cancel(f"signal {signum}: stop the conversation")
        gateway.stop()

    async def run_tree() -> None:
        nonlocal code
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            with talking:
                code = await _converse(
                    gateway, channel, chat_id, message, stdin, stdout, err, redactor
                )
            gateway.stop()

    try:
        await run_until_signalled(run_tree, on_first=stop_on_signal)
    except* ChildStartFailed as group:  # the nursery body wraps it in a group
        failure = group.exceptions[0]
        assert isinstance(failure, ChildStartFailed)
        cause = failure.error if failure.error is not None else failure
        err.write(f"autobot: {redactor.redact(str(cause))}\n")  # code stays 1
    return 128 + signalled[0] if signalled else code


async def _converse(
    gateway: Gateway,
    channel: str,
    chat_id: str,
    message: str | None,
    stdin: TextIO,
    stdout: TextIO,
    err: TextIO,
    redactor: Redactor,
) -> int:
    with gateway.inbound() as inbound, gateway.channel_outbox(channel) as outbox:
        terminal = TerminalChannel(
            channel=channel,
            chat_id=chat_id,
            inbound=inbound,
            outbound=outbox,
            stdin=stdin,
            stdout=stdout,
        )
        if message is None:
            await terminal.chat()
            return 0
        reply = await terminal.ask_once(message)
    if reply.is_error:
        log_file = gateway.loaded.logs_dir / LOG_FILE_NAME
        reason = redactor.redact(reply.failure or "unknown error")
        err.write(f"autobot: the turn failed: {reason}; details in {log_file}\n")
        return 1
    return 0


def _describe_os_error(exc: OSError, loaded: LoadedConfig) -> str:
    """`reason: path` with the path relative to the bot directory when inside it."""
    reason = exc.strerror or type(exc).__name__
    if exc.filename is None:
        return reason
    path = Path(os.fsdecode(exc.filename))
    shown = path.relative_to(loaded.bot_dir) if path.is_relative_to(loaded.bot_dir) else path
    return f"{reason}: {shown}"
