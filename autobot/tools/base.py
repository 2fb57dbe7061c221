"""The tool contract shared by the registry and every tool family.

A tool is an object with a `name`, a `description`, a JSON-schema
`parameters` mapping and `async def run(args, ctx) -> ToolResult`. The
registry validates `args` against `parameters` before calling `run`, so a
tool may rely on required keys and declared types being present. A tool
reports a problem the model should see by returning `ToolResult.error(...)`;
raising is reserved for bugs (the registry turns it into a generic error and
an ERROR record).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from autobot.logs.records import Logger


@attrs.frozen
class ToolResult:
    """What the model sees from one tool call."""

    text: str
    is_error: bool = False

    @classmethod
    def ok(cls, text: str) -> ToolResult:
        return cls(text)

    @classmethod
    def error(cls, text: str) -> ToolResult:
        return cls(text, is_error=True)


class SubagentLauncher(Protocol):
    """Starts a subagent for the current session; returns None or a refusal.
    The session's agent actor implements it; the `spawn` tool calls it."""

    def launch(self, task: str, label: str) -> str | None: ...


@attrs.frozen(kw_only=True)
class ToolContext:
    """Who is calling: the session (`channel:chat_id`) and its workspace and
    logger; `launcher` starts that session's subagents (None where none may
    start: in a subagent, or outside an agent actor); `scheduled_job` is the
    id of the cron job whose scheduled run this turn is (None in a turn a
    message started)."""

    session_key: str
    channel: str
    chat_id: str
    workspace: Path
    logger: Logger
    launcher: SubagentLauncher | None = None
    scheduled_job: str | None = None


class Tool(Protocol):
    """A callable capability offered to the model."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> Mapping[str, Any]: ...

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult: ...


def access_denied(ctx: ToolContext, tool: str, reason: str) -> ToolResult:
    """Record an ACCESS DENIED warning and return the refusal the model sees."""
    ctx.logger.access_denied(reason, tool=tool, session=ctx.session_key)
    return ToolResult.error(reason)
