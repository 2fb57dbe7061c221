"""The `spawn {task, label?}` tool: start a background subagent for this session.

The tool only asks; the session's agent actor owns the subagent (it runs in
the actor's nursery with a reduced tool set: no message, spawn or cron) and
feeds its result back into the conversation as a new inbound message. The
actor implements `base.SubagentLauncher` and passes itself as the call's
`ToolContext.launcher`, so one stateless `SpawnTool` serves every session;
`launch` is synchronous and either starts the subagent or says why not (too
many already running).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from autobot.tools.base import ToolContext, ToolResult

SPAWN_PARAMETERS: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "minLength": 1,
            "maxLength": 8000,
            "description": "What the subagent should do, self-contained.",
        },
        "label": {
            "type": "string",
            "maxLength": 60,
            "description": "A short name for the task, shown when it finishes.",
        },
    },
    "required": ["task"],
    "additionalProperties": False,
}


@attrs.frozen(kw_only=True)
class SpawnTool:
    """Delegates long work to a background subagent of the calling session."""

    name: str = "spawn"
    description: str = (
        "Start a background subagent for a long or independent task. It works with the file, "
        "exec and web tools and its result is posted back into this conversation when done."
    )
    parameters: Mapping[str, Any] = SPAWN_PARAMETERS

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        task = args["task"]
        label = args.get("label") or task[:40]
        if ctx.launcher is None:
            return ToolResult.error("Background tasks cannot be started from here.")
        refusal = ctx.launcher.launch(task, label)
        if refusal is not None:
            return ToolResult.error(refusal)
        return ToolResult.ok(
            f"Started background task {label!r}. Its result will be posted to this "
            "conversation when it finishes; you do not need to wait for it."
        )
