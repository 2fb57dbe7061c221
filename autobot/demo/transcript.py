"""How `autobot demo` prints what happened (pure text building).

An exchange is the user's line, one entry per tool call with (the start of)
what the real tool returned, and the assistant's reply:

    you> Take a note: buy oat milk
      [tool] write_file notes/todo.md
             Wrote 17 bytes to notes/todo.md
    autobot> Noted. ...

`where_to_look` is the closing section: health and metrics URLs, the log
file with the greps an operator would run, and the demo key check.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from autobot.demo.brain import describe_call
from autobot.demo.conversation import Exchange
from autobot.demo.logcheck import LogCheck
from autobot.logs.records import ACCESS_DENIED, EXECUTING_TOOL, TOKENS

USER_PREFIX = "you> "
REPLY_PREFIX = "autobot> "
TOOL_PREFIX = "  [tool] "
RESULT_INDENT = " " * len(TOOL_PREFIX)
MAX_RESULT_LINES = 6
MAX_LINE_CHARS = 110


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def result_lines(text: str | None) -> list[str]:
    """The first `MAX_RESULT_LINES` non-empty lines of a tool result, clipped,
    plus a count of the lines left out."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ["(empty)"]
    shown = [_clip(line) for line in lines[:MAX_RESULT_LINES]]
    if len(lines) > MAX_RESULT_LINES:
        hidden = len(lines) - MAX_RESULT_LINES
        shown.append(f"... ({hidden} more line{'' if hidden == 1 else 's'})")
    return shown


def tool_entry(exchange: Exchange) -> list[str]:
    """One tool call and its result, as printed under the user's line."""
    flag = "  (error)" if exchange.is_error else ""
    head = f"{TOOL_PREFIX}{_clip(describe_call(exchange))}{flag}"
    return [head, *(RESULT_INDENT + line for line in result_lines(exchange.result))]


def prefixed(prefix: str, text: str) -> str:
    """`text` after `prefix`, continuation lines aligned under the first."""
    first, *rest = text.splitlines() or [""]
    pad = " " * len(prefix)
    return "\n".join([prefix + first, *(pad + line for line in rest)])


def exchange_text(user_text: str, exchanges: Sequence[Exchange], replies: Sequence[str]) -> str:
    """The printed exchange: user line, tool entries, then each reply."""
    lines = [prefixed(USER_PREFIX, user_text)]
    for exchange in exchanges:
        lines += tool_entry(exchange)
    lines += [prefixed(REPLY_PREFIX, reply) for reply in replies]
    return "\n".join(lines) + "\n"


@attrs.frozen(kw_only=True)
class Places:
    """Where the running demo can be inspected, and what the model was sent."""

    http_url: str
    health: str  # the body /healthz answered, stripped
    log_file: str
    key: str
    model_requests: int  # requests the local model received
    key_in_requests: int  # of those, how many carried the key in their body


def where_to_look(places: Places, check: LogCheck) -> str:
    """The closing section (see the module docstring)."""
    log = places.log_file
    in_log = "FOUND: redaction failed" if check.key_found else "0 (not in the log)"
    return (
        "\n".join(
            [
                "Where to look",
                f"  health   {places.http_url}/healthz -> {places.health}",
                f"  metrics  {places.http_url}/metrics",
                f"  log      {log}",
                f'           grep "{ACCESS_DENIED}" {log}   ({check.access_denied} from this run)',
                f'           grep "{EXECUTING_TOOL}" {log}   ({check.tools_executed} from this run)',
                f'           grep "{TOKENS}" {log}   ({check.llm_calls} from this run)',
                f"  secrets  grep -c {places.key} {log}  ->  {in_log}",
                f"           the demo logged that key once on purpose: this run's lines show "
                f"{check.redacted} [REDACTED]",
                f"           the model never saw it: {places.key_in_requests} of "
                f"{places.model_requests} requests carried it in their body",
            ]
        )
        + "\n"
    )
