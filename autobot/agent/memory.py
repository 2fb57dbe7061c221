"""Memory consolidation: folding old history into the workspace memory files.

When a session's active history (the messages after the last consolidation)
grows past `memory_window`, the oldest part is summarised by the LLM into
`workspace/memory/MEMORY.md` (long-term facts, rewritten whole) and one line
appended to `workspace/memory/HISTORY.md` (a dated log). Those messages are
then no longer sent to the model; the journal keeps them.

Pure parts: `consolidation_cut` (where to cut, never between a tool call and
its results), `consolidation_request` and `parse_consolidation`. The file
writes (`write_memory`) are blocking and go through
`autobot.platform.workspace_fs.Workspace`: the model can swap `memory/` or
the files for symlinks at any moment, and autobot must never be tricked into
writing through one (MEMORY.md is read back through the same module, by
`autobot.agent.context.read_workspace_text`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import attrs

from autobot.llm.types import ChatMessage, LLMRequest, Role
from autobot.platform.workspace_fs import Workspace

MEMORY_DIR, MEMORY_NAME, HISTORY_NAME = "memory", "MEMORY.md", "HISTORY.md"
MEMORY_FILE = f"{MEMORY_DIR}/{MEMORY_NAME}"

CONSOLIDATION_SYSTEM = (
    "You maintain an assistant's long-term memory. You receive the current MEMORY.md and "
    "an excerpt of an old conversation. Answer with one JSON object and nothing else: "
    '{"memory": "<the complete updated MEMORY.md: durable facts about the user, their '
    'preferences and ongoing projects>", "history_entry": "<one or two sentences '
    'summarising the excerpt>"}. Never record secrets such as passwords or API keys.'
)


class ConsolidationError(Exception):
    """The LLM's consolidation answer could not be used."""


@attrs.frozen
class Consolidation:
    """What the LLM decided: the new MEMORY.md and one HISTORY.md entry."""

    memory: str
    history_entry: str


def consolidation_cut(messages: Sequence[ChatMessage], start: int, window: int) -> int | None:
    """Index up to which history should be consolidated, or None if not needed.

    Active history is `messages[start:]`. When it exceeds `window`, keep about
    half of the window and cut at the latest USER message at or before that
    point (a user message starts a turn, so no tool call is separated from its
    results). None when the active history fits or no safe cut exists.
    """
    if len(messages) - start <= window:
        return None
    target = len(messages) - max(1, window // 2)
    for index in range(target, start, -1):
        if messages[index].role is Role.USER:
            return index
    return None


def _render(messages: Sequence[ChatMessage]) -> str:
    lines = []
    for message in messages:
        if message.role is Role.TOOL:
            lines.append(f"[tool result] {message.content[:500]}")
        elif message.tool_calls:
            names = ", ".join(call.name for call in message.tool_calls)
            lines.append(f"assistant: {message.content} [called: {names}]")
        else:
            lines.append(f"{message.role.value}: {message.content}")
    return "\n".join(lines)


def consolidation_request(
    *, model: str, current_memory: str, excerpt: Sequence[ChatMessage], max_tokens: int
) -> LLMRequest:
    """The LLM request that consolidates `excerpt` into `current_memory`."""
    prompt = (
        f"Current MEMORY.md:\n{current_memory or '(empty)'}\n\n"
        f"Conversation excerpt:\n{_render(excerpt)}"
    )
    return LLMRequest(
        model=model,
        system=CONSOLIDATION_SYSTEM,
        messages=(ChatMessage(role=Role.USER, content=prompt),),
        max_tokens=max_tokens,
        temperature=0.0,
    )


def parse_consolidation(text: str) -> Consolidation:
    """The JSON object in `text` (code fences tolerated); raises ConsolidationError."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body.removeprefix("json").strip()
    try:
        data = json.loads(body)
        memory, entry = data["memory"], data["history_entry"]
    except (ValueError, TypeError, KeyError) as exc:
        raise ConsolidationError(f"consolidation answer is not the expected JSON: {exc}") from exc
    if not isinstance(memory, str) or not isinstance(entry, str):
        raise ConsolidationError("consolidation answer fields must be strings")
    return Consolidation(memory=memory, history_entry=entry)


def write_memory(workspace: Path, result: Consolidation, stamp: str) -> None:
    """Replace MEMORY.md and append a `[stamp] entry` line to HISTORY.md (blocking).

    Creates `memory/` (0700) when missing. Raises WorkspacePathError when the
    workspace refuses a path (a symlink or a non-directory at `memory`, a
    symlink, FIFO or other non-regular file at HISTORY.md...) or on I/O
    failure; nothing is then written outside the workspace, and no temp file
    is left behind.
    """
    entry = " ".join(result.history_entry.split())
    with (
        Workspace.open(workspace) as opened,
        opened.directory(MEMORY_DIR, make_dirs=True) as memory,
    ):
        memory.write_bytes(MEMORY_NAME, (result.memory.rstrip() + "\n").encode())
        memory.append_bytes(HISTORY_NAME, f"[{stamp}] {entry}\n".encode())
