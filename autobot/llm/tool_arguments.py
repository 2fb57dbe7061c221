"""Tool calls whose arguments the model garbled.

A model speaking the OpenAI dialect sends arguments as a JSON *string*, which
may be malformed. Rather than fail the whole completion, the adapter returns
the call with `arguments == {INVALID_ARGUMENTS_KEY: problem}`; whoever runs
tools checks `invalid_arguments(call)` first and answers the call with that
problem as an error result, so the model can correct itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from autobot.llm.types import ToolCall

INVALID_ARGUMENTS_KEY = "__autobot_invalid_arguments__"


def parse_arguments(raw: object) -> tuple[Mapping[str, Any], str | None]:
    """Arguments from the wire: (mapping, None), or ({}, problem) if unusable.

    Accepts a JSON object string (the documented form), an empty string
    or null (meaning no arguments) or an already-decoded object. The problem text
    describes the defect without echoing the arguments.
    """
    if raw is None:
        return {}, None
    if isinstance(raw, Mapping):
        return dict(raw), None
    if not isinstance(raw, str):
        return {}, f"arguments must be a JSON object string, got {type(raw).__name__}"
    if not raw.strip():
        return {}, None
    try:
        decoded = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(decoded, dict):
        return {}, f"arguments must be a JSON object, got {type(decoded).__name__}"
    return decoded, None


def tool_call(call_id: str, name: str, raw_arguments: object) -> ToolCall:
    """A `ToolCall` from wire values; garbled arguments are marked, not raised."""
    arguments, problem = parse_arguments(raw_arguments)
    if problem is not None:
        arguments = {INVALID_ARGUMENTS_KEY: f"Invalid arguments for tool {name!r}: {problem}"}
    return ToolCall(id=call_id, name=name, arguments=arguments)


def invalid_arguments(call: ToolCall) -> str | None:
    """The error to return to the model for `call`, or None if its arguments parsed."""
    problem = call.arguments.get(INVALID_ARGUMENTS_KEY)
    return problem if isinstance(problem, str) else None
