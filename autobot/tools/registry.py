"""The tool registry: the one gate between the model's tool calls and the tools.

A `ToolRegistry` is an immutable set of tools, built once and shared by every
session. `call()` takes one model-requested `ToolCall` through, in order:
unknown-tool check, argument validation against the tool's JSON schema
(`autobot.tools.arg_schema`), the calling session's rate buckets, the
`Executing tool: <name>` record, the tool itself, and output truncation.
Every refusal is a `ToolResult.error` the model can read and act on; the turn
goes on. A tool that raises is a bug: the model gets a generic error, the log
an ERROR record with the traceback (redacted by the log actor).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping

import attrs
import trio

from autobot.limits.buckets import SessionLimits
from autobot.llm.tool_arguments import invalid_arguments
from autobot.llm.types import ToolCall, ToolSpec
from autobot.tools.arg_schema import check_schema, validate_arguments
from autobot.tools.base import Tool, ToolContext, ToolResult

DEFAULT_MAX_OUTPUT_CHARS = 16_000


def truncate_output(text: str, limit: int) -> str:
    """`text` cut to `limit` characters with a notice saying how much was dropped."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [output truncated: showing {limit} of {len(text)} characters]"


def is_concurrency_safe(tool: Tool) -> bool:
    """Whether `tool` may run alongside other calls of the same response.

    A tool opts in with a true `concurrency_safe` attribute (read-only tools
    do); anything with side effects ordering could matter for (exec, write,
    message, spawn) runs alone, in the order the model asked.
    """
    return getattr(tool, "concurrency_safe", False) is True


def _checked(tools: Iterable[Tool], taken: Container[str] = ()) -> dict[str, Tool]:
    """`tools` by name; raises ValueError on a duplicate (also against `taken`)
    or a schema the validator cannot enforce."""
    by_name: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in by_name or tool.name in taken:
            raise ValueError(f"duplicate tool name {tool.name!r}")
        check_schema(tool.parameters, f"{tool.name}.parameters")
        by_name[tool.name] = tool
    return by_name


def _specs_of(tools: Iterable[Tool]) -> tuple[ToolSpec, ...]:
    return tuple(
        ToolSpec(name=t.name, description=t.description, parameters=t.parameters) for t in tools
    )


@attrs.frozen
class ToolRegistry:
    """Tools by name. Build with `ToolRegistry.of(tools)`, which checks names
    are unique and every schema is enforceable (raises ValueError)."""

    tools: Mapping[str, Tool]
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    # The tools as offered to the model, in `tools` order. Derived from `tools`
    # when not given; `with_tools` passes the base's specs plus the new ones
    # (only the added tools are converted).
    _specs: tuple[ToolSpec, ...] = attrs.field(
        kw_only=True,
        default=attrs.Factory(lambda self: _specs_of(self.tools.values()), takes_self=True),
    )

    @classmethod
    def of(
        cls, tools: Iterable[Tool], *, max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    ) -> ToolRegistry:
        if max_output_chars < 1:
            raise ValueError(f"max_output_chars must be >= 1, got {max_output_chars}")
        return cls(_checked(tools), max_output_chars)

    def names(self) -> tuple[str, ...]:
        return tuple(self.tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools as offered to the model (built once)."""
        return self._specs

    def without(self, names: Iterable[str]) -> ToolRegistry:
        """This registry minus `names` (absent names are ignored)."""
        drop = set(names)
        kept = {n: t for n, t in self.tools.items() if n not in drop}
        return ToolRegistry(kept, self.max_output_chars)

    def with_tools(self, extra: Iterable[Tool]) -> ToolRegistry:
        """This registry plus `extra` (a name clash raises ValueError). Only the
        new tools are checked and converted to specs (the agent's registry is
        the shared one plus `spawn`)."""
        added = _checked(extra, taken=self.tools)
        return ToolRegistry(
            {**self.tools, **added},
            self.max_output_chars,
            specs=self._specs + _specs_of(added.values()),
        )

    def is_concurrency_safe(self, name: str) -> bool:
        tool = self.tools.get(name)
        return tool is not None and is_concurrency_safe(tool)

    async def call(self, call: ToolCall, ctx: ToolContext, limits: SessionLimits) -> ToolResult:
        """Run one tool call for the session `ctx` describes; never raises
        except `trio.Cancelled` (cancellation always propagates)."""
        log = ctx.logger
        tool = self.tools.get(call.name)
        if tool is None:
            log.warn("Unknown tool requested", tool=call.name, session=ctx.session_key)
            available = ", ".join(sorted(self.tools)) or "none"
            return ToolResult.error(f"Unknown tool: {call.name!r}. Available tools: {available}")
        garbled = invalid_arguments(call)
        if garbled is not None:  # the model sent arguments that were not a JSON object
            log.warn(
                "Invalid tool arguments", tool=call.name, problem=garbled, session=ctx.session_key
            )
            return ToolResult.error(garbled)
        problem = validate_arguments(tool.parameters, call.arguments)
        if problem is not None:
            log.warn(
                "Invalid tool arguments", tool=call.name, problem=problem, session=ctx.session_key
            )
            return ToolResult.error(f"Invalid arguments for {call.name}: {problem}")
        limited = limits.take_tool(call.name, trio.current_time())
        if limited is not None:
            log.warn(
                "Tool call rate limited",
                tool=call.name,
                scope=limited.scope,
                session=ctx.session_key,
            )
            return ToolResult.error(f"Tool {call.name} not run: {limited.describe()}")
        log.executing_tool(call.name, session=ctx.session_key)
        try:
            result = await tool.run(call.arguments, ctx)
        except Exception as exc:  # noqa: BLE001 -- a tool bug: logged with traceback, not raised
            log.error("Tool failed", exc=exc, tool=call.name, session=ctx.session_key)
            return ToolResult.error(f"Tool {call.name} failed with an internal error.")
        return ToolResult(truncate_output(result.text, self.max_output_chars), result.is_error)
