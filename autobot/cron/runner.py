"""Running one fired job: an agent turn through the session router, or a command in the sandbox.

`GatewayRunner.run(job)` does one run and says how it ended (`RunResult`);
the scheduler times it, records it and enforces the overlap rule. Every run
is for the job's owner (`channel:chat_id`) and ends in the owner's chat: a
job whose channel is not enabled in this gateway is not run at all (an
ERROR result saying so).

- An agent turn (`AgentTurn`) is an `InboundMessage` of kind CRON sent into
  the session router's mailbox, never a call into an actor: it queues behind
  the owner's other messages and draws on the owner's rate buckets and token
  budgets like any turn. The message carries a `ScheduledRun` whose one-shot
  `done` channel reports how the turn ended: its final reply, handed to the
  outbound mailbox (the run is done then), or why it never ran (the session
  was busy, crashed or stopped with it queued). A refused LLM call (a rate
  limit, a spent budget) or the model's apology is an ERROR result. Only a
  message lost with a crashed router incarnation is never reported (mailbox
  delivery is at-most-once): `AGENT_TURN_LIMIT_SECONDS` bounds the wait, and
  the run is then a TIMEOUT.
- A command (`Command`) runs as the exec tool runs one: refused with ACCESS
  DENIED when it names a dotenv file, otherwise in a leased sandbox worker
  (its own process group, no network unless configured, killed after
  `tools.exec.timeout`); its output, capped at `OUTPUT_CHARS`, is sent to
  the owner's chat as one message (no LLM involved). A non-zero exit is an
  ERROR result, a time-out a TIMEOUT.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs
import trio

from autobot.channels.base import InboundKind, InboundMessage, OutboundMessage, ScheduledRun
from autobot.channels.outbound import OutboundSink, UnknownChannel
from autobot.cron.jobs import AgentTurn, Job, RunStatus
from autobot.logs.records import Logger
from autobot.sandbox.errors import WorkerFailed
from autobot.sandbox.leaser import WorkerLeaser
from autobot.sandbox.mapping import dotenv_token
from autobot.sandbox.worker import ExecOutcome, OpRefused
from autobot.tools.exec import HOST_GRACE_SECONDS, MAX_OUTPUT_BYTES, format_outcome
from autobot.tools.registry import truncate_output

# How long a fired agent turn may take before the run counts as timed out:
# far beyond any real turn (20 tool rounds of a minute each), so it only ends
# the wait for a message lost with a crashed router incarnation.
AGENT_TURN_LIMIT_SECONDS = 1800.0
# A command's output as sent to the chat: a few screens, not a log file
# (each stream is already capped at MAX_OUTPUT_BYTES by the worker).
OUTPUT_CHARS = 3500
# The one-shot `ScheduledRun.done` channel: exactly one report is ever sent.
DONE_BUFFER = 1


@attrs.frozen
class RunResult:
    """How one run ended: its status and, unless OK, a short reason (log-safe)."""

    status: RunStatus
    error: str | None = None

    @classmethod
    def failed(cls, error: str) -> RunResult:
        return cls(RunStatus.ERROR, error)


def owner_chat(owner: str) -> tuple[str, str]:
    """`(channel, chat_id)` of a job owner `channel:chat_id` (the chat id may hold `:`)."""
    channel, _, chat_id = owner.partition(":")
    return channel, chat_id


def command_result(outcome: ExecOutcome) -> RunResult:
    """The run status of a finished command."""
    if outcome.timed_out:
        return RunResult(RunStatus.TIMEOUT, "the command timed out (process group killed)")
    if outcome.exit_code < 0:
        return RunResult.failed(f"the command was killed by signal {-outcome.exit_code}")
    if outcome.exit_code:
        return RunResult.failed(f"the command exited with code {outcome.exit_code}")
    return RunResult(RunStatus.OK)


@attrs.define(kw_only=True, eq=False)
class GatewayRunner:
    """Runs jobs in the running gateway (see the module docstring).

    `router` is this incarnation's sender into the session router's mailbox
    (`close()` closes it); `outbound` where command output goes; `channels`
    the chat channels this gateway runs; `pool` leases sandbox workers for
    commands, whose time limit is `command_timeout` seconds.
    """

    router: trio.MemorySendChannel[InboundMessage]
    outbound: OutboundSink
    channels: Collection[str]
    pool: WorkerLeaser
    command_timeout: float
    logger: Logger

    def close(self) -> None:
        """Close the router sender (the scheduler's incarnation ended)."""
        self.router.close()

    async def run(self, job: Job) -> RunResult:
        """Run `job` once; raises only `trio.Cancelled`."""
        channel, chat_id = owner_chat(job.owner)
        if channel not in self.channels:
            return RunResult.failed(f"channel {channel!r} is not enabled in this gateway")
        if isinstance(job.action, AgentTurn):
            return await self._agent_turn(job, channel, chat_id, job.action.message)
        return await self._command(job, channel, chat_id, job.action.command)

    async def _agent_turn(self, job: Job, channel: str, chat_id: str, prompt: str) -> RunResult:
        done, report = trio.open_memory_channel[OutboundMessage](DONE_BUFFER)
        with report:
            message = InboundMessage(
                channel=channel,
                chat_id=chat_id,
                content=prompt,
                kind=InboundKind.CRON,
                scheduled=ScheduledRun(job_id=job.id, name=job.name, done=done),
            )
            try:
                await self.router.send(message)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                done.close()
                return RunResult.failed("the session router is not running")
            with trio.move_on_after(AGENT_TURN_LIMIT_SECONDS):
                try:
                    reply = await report.receive()
                except trio.EndOfChannel:
                    return RunResult.failed("the turn ended without a reply")
                if reply.is_error:
                    return RunResult.failed(reply.failure or "the turn failed")
                return RunResult(RunStatus.OK)
        return RunResult(
            RunStatus.TIMEOUT, f"no final reply within {AGENT_TURN_LIMIT_SECONDS:g} seconds"
        )

    async def _command(self, job: Job, channel: str, chat_id: str, command: str) -> RunResult:
        token = dotenv_token(command)
        if token is not None:
            reason = f"command references dotenv file '{token}'"
            self.logger.access_denied(reason, job=job.id, owner=job.owner)
            return RunResult.failed(reason)
        limit = self.command_timeout
        try:
            async with self.pool.lease() as worker:
                with trio.fail_after(limit + HOST_GRACE_SECONDS):
                    outcome = await worker.exec(
                        command, cwd=".", time_limit=limit, max_output=MAX_OUTPUT_BYTES
                    )
        except OpRefused as exc:
            return RunResult.failed(f"the sandbox refused the command: {exc}")
        except trio.TooSlowError:
            text = f"Error: command timed out after {limit:g} seconds (sandbox worker killed)"
            await self._post(job, channel, chat_id, text)
            return RunResult(RunStatus.TIMEOUT, "the sandbox worker did not answer in time")
        except WorkerFailed as exc:
            self.logger.warn("sandbox worker failed", job=job.id, error=str(exc))
            return RunResult.failed("the sandbox worker failed")
        lost = await self._post(job, channel, chat_id, format_outcome(outcome, limit).text)
        return command_result(outcome) if lost is None else RunResult.failed(lost)

    async def _post(self, job: Job, channel: str, chat_id: str, output: str) -> str | None:
        """Send a command's output to the owner's chat, headed by the job;
        why it could not be handed to the channel, or None."""
        text = f"Scheduled job {job.name!r} ({job.id}):\n{truncate_output(output, OUTPUT_CHARS)}"
        try:
            await self.outbound.send(
                OutboundMessage(channel=channel, chat_id=chat_id, content=text)
            )
        except (UnknownChannel, trio.BrokenResourceError, trio.ClosedResourceError):
            return f"the output could not be sent: channel {channel!r} is not running"
        return None
