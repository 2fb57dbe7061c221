"""What the demo run left in logs/autobot.log (pure).

The demo writes a start marker and an end marker record through the gateway's
logger; `check_log` reads the log text, takes the lines between the last
start marker and the end marker (this run's records), and counts what an
operator would grep for. `leaked` looks at the whole text: the demo's
secrets (its model key, its bot token) are fresh per run, so any occurrence
anywhere is a leak.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from autobot.config.secret import REDACTED
from autobot.logs.records import ACCESS_DENIED, EXECUTING_TOOL, TOKENS


def start_marker(run_id: str) -> str:
    return f"demo run {run_id} started"


def end_marker(run_id: str) -> str:
    return f"demo run {run_id} finished"


@attrs.frozen(kw_only=True)
class LogCheck:
    """Counts over this run's log lines, and the secrets that appear anywhere."""

    complete: bool  # both markers were found
    access_denied: int
    tools_executed: int
    llm_calls: int
    redacted: int
    leaked: tuple[str, ...]


def run_lines(text: str, run_id: str) -> tuple[list[str], bool]:
    """This run's lines (from the last start marker up to the end marker) and
    whether both markers were present; all lines when the start is missing."""
    lines = text.splitlines()
    start_text, end_text = start_marker(run_id), end_marker(run_id)
    starts = [i for i, line in enumerate(lines) if start_text in line]
    first = starts[-1] if starts else 0
    end = next((i for i in range(first, len(lines)) if end_text in lines[i]), None)
    selected = lines[first:end] if end is not None else lines[first:]
    return selected, bool(starts) and end is not None


def check_log(text: str, *, run_id: str, secrets: Sequence[str]) -> LogCheck:
    """The counts `autobot demo` prints about its own run."""
    lines, complete = run_lines(text, run_id)
    return LogCheck(
        complete=complete,
        access_denied=sum(ACCESS_DENIED in line for line in lines),
        tools_executed=sum(EXECUTING_TOOL in line for line in lines),
        llm_calls=sum(TOKENS in line for line in lines),
        redacted=sum(line.count(REDACTED) for line in lines),
        leaked=tuple(secret for secret in secrets if secret in text),
    )
