"""Reading the current turn out of a Messages API request (pure).

Every request the agent loop sends holds the whole conversation. The turn in
progress starts at the last user message carrying text; after it come the
assistant's tool-use rounds so far, each answered by a user message of
`tool_result` blocks. `current_turn` returns that turn: the user's text, how
many rounds the assistant already made, and every tool call of the turn with
the result the real tool returned. Both the demo brain (to decide its next
move) and the demo transcript (to show what the tools did) read turns this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs


class NotAConversation(ValueError):
    """The request has no user text to answer, or its messages are malformed."""


@attrs.frozen(kw_only=True)
class Exchange:
    """One tool call of the turn and what the tool returned (`result` is None
    while the call is still unanswered)."""

    name: str
    arguments: Mapping[str, Any]
    result: str | None = None
    is_error: bool = False


@attrs.frozen(kw_only=True)
class Turn:
    """The turn in progress: the user's text, the assistant rounds made so far
    (messages with tool calls), and the tool calls of those rounds in order."""

    user_text: str
    rounds: int
    exchanges: tuple[Exchange, ...]


def _blocks(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(isinstance(b, Mapping) for b in content):
        raise NotAConversation("a message's content is neither text nor a list of blocks")
    return content


def _text(blocks: Sequence[Mapping[str, Any]]) -> str:
    return "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _result_text(block: Mapping[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        return _text([b for b in content if isinstance(b, Mapping)])
    return str(content)


def current_turn(request: Mapping[str, Any]) -> Turn:
    """The turn in progress in `request` (a Messages API request body).

    Raises `NotAConversation` when there is no user message with text, or a
    message is malformed.
    """
    messages = request.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise NotAConversation("the request has no list of messages")
    parsed = [(m.get("role"), _blocks(m)) for m in messages]
    start = next(
        (
            i
            for i in range(len(parsed) - 1, -1, -1)
            if parsed[i][0] == "user" and _text(parsed[i][1])
        ),
        None,
    )
    if start is None:
        raise NotAConversation("the request has no user message with text")
    calls: dict[str, Exchange] = {}
    rounds = 0
    for role, blocks in parsed[start + 1 :]:
        if role == "assistant":
            uses = [b for b in blocks if b.get("type") == "tool_use"]
            rounds += 1 if uses else 0
            for use in uses:
                arguments = use.get("input")
                calls[str(use.get("id"))] = Exchange(
                    name=str(use.get("name")),
                    arguments=arguments if isinstance(arguments, Mapping) else {},
                )
        for block in blocks:
            if block.get("type") == "tool_result" and str(block.get("tool_use_id")) in calls:
                key = str(block.get("tool_use_id"))
                calls[key] = attrs.evolve(
                    calls[key], result=_result_text(block), is_error=bool(block.get("is_error"))
                )
    return Turn(user_text=_text(parsed[start][1]), rounds=rounds, exchanges=tuple(calls.values()))
