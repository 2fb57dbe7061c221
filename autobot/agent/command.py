"""`autobot agent [-m MESSAGE] [-s SESSION]`: the agent stack in a terminal.

`agent_command` runs the same stack as the gateway minus the chat networks:
log actor (redacting, to `logs/autobot.log`; started first, stopped last),
sandbox pool, session router with its agent actors, and a `TerminalChannel`.
With `message` it prints the final reply and returns 0, or 1 when the turn
ended in an apology (the provider failed; details in the log). Without it, an
interactive chat on `stdin`/`stdout`. Configuration problems (no provider
configured, sandbox unavailable, sessions inside the workspace) print one
clear line to `stderr` and return 1.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TextIO

import trio

from autobot.agent.assembly import build_deps, build_tools
from autobot.agent.router import ROUTER_MAILBOX_SIZE, SessionRouter
from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.terminal import TerminalChannel
from autobot.config.load import LoadedConfig
from autobot.llm.limits import ProviderLimits
from autobot.llm.selection import ProviderConfigError, build_provider, select_provider
from autobot.logs.actor import LogActor, level_from_config, open_log_mailbox
from autobot.logs.records import Logger
from autobot.logs.redact import Redactor
from autobot.logs.sinks import LOG_FILE_NAME, rotating_file_sink
from autobot.sandbox.errors import SandboxUnavailable
from autobot.sandbox.pool import SandboxPool
from autobot.store.atomic import ensure_private_dir
from autobot.store.sessions import SessionStoreError

# Replies for one terminal user; progress messages and subagent reports
# rarely exceed a handful per turn.
TERMINAL_OUTBOX_SIZE = 64
PROVIDER_CLOSE_TIMEOUT = 5.0


def parse_session(session: str) -> tuple[str, str]:
    """`channel:chat_id` from `-s`; a bare name is a chat of channel `cli`."""
    channel, colon, chat_id = session.partition(":")
    if colon and channel and chat_id:
        return channel, chat_id
    return "cli", session or "default"


@asynccontextmanager
async def _log_actor(loaded: LoadedConfig) -> AsyncIterator[Logger]:
    """A running log actor writing redacted records to logs/autobot.log."""
    logger, receive = open_log_mailbox("agent-cli")
    await trio.to_thread.run_sync(ensure_private_dir, loaded.logs_dir)
    logging = loaded.config.logging
    actor = LogActor(
        receive_channel=receive,
        drops=logger.drops,
        redactor=Redactor(known_secrets=loaded.secret_values),
        sinks=[
            rotating_file_sink(
                loaded.logs_dir / LOG_FILE_NAME,
                max_bytes=logging.max_bytes,
                backups=logging.backups,
            )
        ],
        min_level=level_from_config(logging.level),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        try:
            yield logger
        finally:
            logger.send_channel.close()  # the actor drains what is left, then returns


async def agent_command(
    loaded: LoadedConfig,
    *,
    message: str | None,
    session: str,
    stdin: TextIO,
    stdout: TextIO,
    environ: Mapping[str, str],
    stderr: TextIO | None = None,
) -> int:
    """Run `autobot agent`; returns the process exit code (see module docstring).

    `environ` is accepted for symmetry with the other commands; configuration
    was already resolved into `loaded` (secrets included).
    """
    del environ  # resolved by load_config
    err = stderr if stderr is not None else sys.stderr
    config = loaded.config
    try:
        _, bare_model = select_provider(config.agents.defaults.model, config.providers)
    except (ProviderConfigError, ValueError) as exc:
        err.write(f"autobot: {exc}\n")
        return 1
    channel, chat_id = parse_session(session)
    async with _log_actor(loaded) as logger:
        try:
            return await _run_stack(
                loaded, logger, bare_model, channel, chat_id, message, stdin, stdout, err
            )
        except (ProviderConfigError, SandboxUnavailable, SessionStoreError) as exc:
            logger.error("autobot agent could not start", exc=exc)
            err.write(f"autobot: {exc}\n")
            return 1


async def _run_stack(
    loaded: LoadedConfig,
    logger: Logger,
    bare_model: str,
    channel: str,
    chat_id: str,
    message: str | None,
    stdin: TextIO,
    stdout: TextIO,
    err: TextIO,
) -> int:
    config = loaded.config
    provider = build_provider(
        config.agents.defaults.model,
        config.providers,
        limits=ProviderLimits(),
        logger=logger.child("llm"),
    )
    out_send, out_receive = trio.open_memory_channel[OutboundMessage](TERMINAL_OUTBOX_SIZE)
    in_send, in_receive = trio.open_memory_channel[InboundMessage](ROUTER_MAILBOX_SIZE)
    try:
        with out_send, out_receive, in_send:
            async with trio.open_nursery() as services:
                pool = SandboxPool.from_config(
                    config.tools,
                    workspace=loaded.workspace,
                    bot_dir=loaded.bot_dir,
                    logger=logger.child("sandbox"),
                )
                await services.start(pool.run)
                registry = build_tools(
                    config, workspace=loaded.workspace, outbound=out_send, pool=pool
                )
                deps = build_deps(
                    config,
                    provider=provider,
                    bare_model=bare_model,
                    registry=registry,
                    workspace=loaded.workspace,
                    sessions_dir=loaded.sessions_dir,
                    outbound=out_send,
                    logger=logger,
                )
                router = SessionRouter(deps=deps, inbox=in_receive)
                terminal = TerminalChannel(
                    channel=channel,
                    chat_id=chat_id,
                    inbound=in_send,
                    outbound=out_receive,
                    stdin=stdin,
                    stdout=stdout,
                )
                async with trio.open_nursery() as agents:
                    await agents.start(router.run)
                    code = 0
                    if message is None:
                        await terminal.chat()
                    else:
                        reply = await terminal.ask_once(message)
                        if reply.is_error:
                            err.write(
                                f"autobot: the turn failed; details in {loaded.logs_dir / LOG_FILE_NAME}\n"
                            )
                            code = 1
                    router.stopping.set()
                services.cancel_scope.cancel("autobot agent finished")
            return code
    finally:
        with trio.move_on_after(PROVIDER_CLOSE_TIMEOUT, shield=True):
            await provider.aclose()
