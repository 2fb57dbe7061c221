"""The exec tool: one shell command inside a leased sandbox worker.

Host-side checks first: a command naming a dotenv file (`cat .env`) and a
working_dir outside the workspace are refused with ACCESS DENIED; the
requested timeout must be a finite positive number and is capped at
`tools.exec.timeout`; the host's deadline covers the command, not the wait
for a lease. The worker runs the command in its own process group with
rlimits, kills it on timeout (and whatever it left running, always) and caps
the output; the kernel sandbox (no network, no host env, dotenv files
masked) holds whatever the checks miss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.sandbox.errors import WorkerFailed
from autobot.sandbox.leaser import WorkerLeaser
from autobot.sandbox.mapping import PathRefused, dotenv_token, workspace_relpath
from autobot.sandbox.worker import ExecOutcome, OpRefused
from autobot.tools.base import ToolContext, ToolResult, access_denied
from autobot.tools.files import refusal_text

MAX_OUTPUT_BYTES = 10_000  # per stream
HOST_GRACE_SECONDS = 10.0  # beyond the worker's own timeout before the host gives up on it


def command_time_limit(requested: object, configured: float) -> float | str:
    """The command's time limit: the model's `timeout` capped by configuration,
    or the error to show when it is not a finite positive number."""
    if requested is None:
        return configured
    if isinstance(requested, bool) or not isinstance(requested, int | float | str):
        return f"Error: timeout must be a number of seconds, not {type(requested).__name__}"
    try:
        seconds = float(requested)
    except ValueError:
        return f"Error: timeout must be a number of seconds, not {requested!r}"
    if not math.isfinite(seconds) or seconds <= 0:
        return f"Error: timeout must be a finite positive number of seconds (got {requested!r})"
    return min(seconds, configured)


def format_outcome(outcome: ExecOutcome, limit_seconds: float) -> ToolResult:
    """What the model sees: timeout notice, stdout, stderr, truncation notices, exit code."""
    parts: list[str] = []
    if outcome.timed_out:
        parts.append(
            f"Error: command timed out after {limit_seconds:g} seconds (process group killed)"
        )
    if outcome.stdout:
        parts.append(outcome.stdout.rstrip("\n"))
    if outcome.stdout_dropped:
        parts.append(f"[stdout truncated: {outcome.stdout_dropped} more bytes not shown]")
    if outcome.stderr:
        parts.append("STDERR:\n" + outcome.stderr.rstrip("\n"))
    if outcome.stderr_dropped:
        parts.append(f"[stderr truncated: {outcome.stderr_dropped} more bytes not shown]")
    if not outcome.timed_out:
        if outcome.exit_code < 0:
            parts.append(f"Exit code: killed by signal {-outcome.exit_code}")
        elif outcome.exit_code or not parts:
            parts.append(f"Exit code: {outcome.exit_code}")
    text = "\n".join(parts)
    return ToolResult.error(text) if outcome.timed_out else ToolResult.ok(text)


@attrs.define(kw_only=True)
class ExecTool:
    """`exec {command, working_dir?, timeout?}`; `timeout` is `tools.exec.timeout`."""

    pool: WorkerLeaser
    workspace: Path
    timeout: float = 60.0
    max_output: int = MAX_OUTPUT_BYTES
    name: str = "exec"
    description: str = (
        "Run a shell command in the sandboxed workspace (no network unless enabled). "
        "Returns stdout, stderr and the exit code."
    )
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "Shell command (/bin/sh -c)"},
            "working_dir": {"type": "string", "description": "Directory inside the workspace"},
            "timeout": {"type": "number", "description": "Seconds (capped by configuration)"},
        },
        "required": ["command"],
    }

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        command = str(args["command"])
        token = dotenv_token(command)
        if token is not None:
            return access_denied(ctx, self.name, f"Error: command references dotenv file '{token}'")
        try:
            cwd = workspace_relpath(self.workspace, str(args.get("working_dir") or "."))
        except PathRefused as exc:
            return access_denied(ctx, self.name, f"Error: working_dir: {exc}")
        limit = command_time_limit(args.get("timeout"), self.timeout)
        if isinstance(limit, str):
            return ToolResult.error(limit)
        try:
            # Waiting for a lease (backpressure) is not the command's time: the
            # deadline covers the command only.
            async with self.pool.lease() as worker:
                with trio.fail_after(limit + HOST_GRACE_SECONDS):
                    outcome = await worker.exec(
                        command, cwd=cwd, time_limit=limit, max_output=self.max_output
                    )
        except OpRefused as exc:
            return ToolResult.error(refusal_text(exc, str(args.get("working_dir"))))
        except trio.TooSlowError:
            return ToolResult.error(
                f"Error: command timed out after {limit:g} seconds (sandbox worker killed)"
            )
        except WorkerFailed as exc:
            ctx.logger.warn("sandbox worker failed", tool=self.name, error=str(exc))
            return ToolResult.error(
                "Error: the sandbox worker failed; it was replaced, please retry"
            )
        return format_outcome(outcome, limit)
