"""A configurable fake `Tool` for registry, loop and session tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import trio

from autobot.tools.base import ToolContext, ToolResult


@attrs.define
class FakeTool:
    """A tool that records its calls, optionally sleeps, and answers `reply`.

    `events` is shared between tools to observe ordering: each run appends
    (`start`, name, time) and (`end`, name, time).
    """

    name: str
    reply: str = "ok"
    delay: float = 0.0
    concurrency_safe: bool = False
    fail_with: Exception | None = None
    description: str = "a fake tool"
    parameters: Mapping[str, Any] = attrs.field(
        factory=lambda: {
            "type": "object",
            "properties": {"x": {"type": "string"}},
            "additionalProperties": False,
        }
    )
    events: list[tuple[str, str, float]] = attrs.field(factory=list)
    calls: list[tuple[Mapping[str, Any], ToolContext]] = attrs.field(factory=list)

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        self.calls.append((args, ctx))
        self.events.append(("start", self.name, trio.current_time()))
        if self.delay:
            await trio.sleep(self.delay)
        self.events.append(("end", self.name, trio.current_time()))
        if self.fail_with is not None:
            raise self.fail_with
        return ToolResult.ok(self.reply)
