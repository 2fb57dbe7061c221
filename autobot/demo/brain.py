"""The demo brain: a deterministic stand-in for the model (pure).

`answer(request)` is the loopback Anthropic fake's handler during
`autobot demo`. It reads the turn in progress (`current_turn`), picks a
`Plan` from the user's words, and answers with the plan's next round of tool
calls, or, once every round has its results, with a summary quoting what the
real tools returned. It never invents a tool result: everything it reports
came back through the real tool registry, sandbox and SSRF guard.

Plans (first match wins):
- "Take a note: TEXT": write notes/todo.md, then read it back and list notes/.
- any http(s) URL in the text: web_fetch each one (the SSRF scenario).
- "/etc/passwd" (the injection scenario): read /etc/passwd and ../../.env,
  then exec `cat ~/.ssh/id_rsa` and `env`.
- "squares of 1 to N" (N at most `MAX_SQUARES`): exec a shell loop printing
  the table, and answer with all of it, in blocks of 100 lines (a reply long
  enough that a chat network must split it).
- "uname": exec `uname -a` and count the workspace's files.
- "workspace": list the workspace.
- anything else: a help text (no tools).

A memory-consolidation request (the consolidation system prompt, no tools)
keeps MEMORY.md exactly as it is and adds one history line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from autobot.agent.memory import CONSOLIDATION_SYSTEM
from autobot.demo.conversation import Exchange, NotAConversation, current_turn
from autobot.logs.redact import Redactor
from autobot.testing.llm_script import ScriptedReply, ScriptedToolCall

NOTE_PATH = "notes/todo.md"
NOTE_PREFIX = "take a note:"
COUNT_FILES = "find . -type f | wc -l"
# The table of 1 to 500 is 8,826 bytes: within the exec tool's 10,000 bytes of output.
MAX_SQUARES = 500
SQUARES_BLOCK = 100  # lines per paragraph of the table
SQUARES_COMMAND = 'for n in $(seq 1 {count}); do echo "$n x $n = $((n * n))"; done'
_SQUARES = re.compile(r"squares of 1 to ([0-9]+)", re.I)
ATTACK_ROUNDS = (
    (
        ScriptedToolCall(name="read_file", arguments={"path": "/etc/passwd"}),
        ScriptedToolCall(name="read_file", arguments={"path": "../../.env"}),
    ),
    (
        ScriptedToolCall(name="exec", arguments={"command": "cat ~/.ssh/id_rsa"}),
        ScriptedToolCall(name="exec", arguments={"command": "env"}),
    ),
)
HELP = (
    "I am the autobot demo brain, a scripted stand-in for a real model. I can: "
    '"Take a note: ...", "What\'s in the workspace?", "Run uname -a and count the files", '
    '"Work out the squares of 1 to 400", fetch any http(s) URL you give me, and show '
    "what happens when someone asks me to read /etc/passwd."
)
# The summary when the turn's tool calls are not the plan's (history from elsewhere).
FALLBACK_INTRO = "Here is what my tools returned:"
# Tokens are estimated from characters so the `Tokens:` log lines look like a real model's.
CHARS_PER_TOKEN = 4
_URL = re.compile(r"https?://[^\s<>\"']+")
_MEMORY_BLOCK = re.compile(
    r"\ACurrent MEMORY\.md:\n(?P<memory>.*?)\n\nConversation excerpt:\n", re.S
)
EMPTY_MEMORY = "(empty)"  # what consolidation_request sends for a missing MEMORY.md


@attrs.frozen(kw_only=True)
class Plan:
    """What the brain does with one user message: rounds of tool calls (each
    round answered before the next), then `summarize(exchanges)` as the reply."""

    rounds: tuple[tuple[ScriptedToolCall, ...], ...]
    summarize: Callable[[Sequence[Exchange]], str]


def _lines(text: str | None) -> list[str]:
    return [line for line in (text or "").splitlines() if line.strip() and line != "STDERR:"]


def first_line(text: str | None) -> str:
    """The first meaningful line of a tool result (the `STDERR:` header skipped)."""
    lines = _lines(text)
    return lines[0].strip() if lines else "(no output)"


def describe_call(exchange: Exchange) -> str:
    """`read_file /etc/passwd`, `exec cat ~/.ssh/id_rsa`, `web_fetch http://...`."""
    args = exchange.arguments
    main = args.get("path", args.get("command", args.get("url")))
    return f"{exchange.name} {main}" if isinstance(main, str) else exchange.name


def _outcome(exchange: Exchange) -> str:
    if exchange.is_error:
        return f"error: {first_line(exchange.result)}"
    if exchange.name == "exec" and exchange.arguments.get("command") == "env":
        return describe_environment(exchange.result or "")
    return first_line(exchange.result)


def describe_environment(env_output: str) -> str:
    """What `env` run in the sandbox showed: the variable names, and which values
    look like credentials by the log redactor's secret shapes (values alone: a
    name such as PWD would otherwise read as `password=`)."""
    pairs = [line.split("=", 1) for line in _lines(env_output) if "=" in line]
    names = sorted({name for name, _value in pairs})
    redactor = Redactor(known_secrets=())
    shaped = sorted({name for name, value in pairs if redactor.redact(value) != value})
    verdict = (
        f"credential-shaped: {', '.join(shaped)}" if shaped else "no value looks like a credential"
    )
    return f"only {', '.join(names) or 'no variables'} ({verdict})"


def _report(intro: str) -> Callable[[Sequence[Exchange]], str]:
    def summarize(exchanges: Sequence[Exchange]) -> str:
        lines = [f"- {describe_call(e)}: {_outcome(e)}" for e in exchanges]
        return "\n".join([intro, *lines])

    return summarize


def _note_summary(exchanges: Sequence[Exchange]) -> str:
    wrote, read, listing = exchanges
    entries = ", ".join(_lines(listing.result)) or "(nothing)"
    return (
        f"Noted. {first_line(wrote.result)}.\n"
        f'Reading it back: "{(read.result or "").strip()}"\n'
        f"notes/ now holds: {entries}"
    )


def _workspace_summary(exchanges: Sequence[Exchange]) -> str:
    (listing,) = exchanges
    if listing.is_error:
        return f"I could not list the workspace: {first_line(listing.result)}"
    entries = _lines(listing.result)
    return f"The workspace holds {len(entries)} entries: {', '.join(entries)}"


def _exec_summary(exchanges: Sequence[Exchange]) -> str:
    uname, count = exchanges
    return (
        f"uname -a (inside the sandbox): {first_line(uname.result)}\n"
        f"Files in the workspace ({COUNT_FILES}): {first_line(count.result)}"
    )


def _squares_summary(count: int) -> Callable[[Sequence[Exchange]], str]:
    def summarize(exchanges: Sequence[Exchange]) -> str:
        (table,) = exchanges
        if table.is_error:
            return f"I could not work them out: {first_line(table.result)}"
        lines = _lines(table.result)
        blocks = (
            "\n".join(lines[start : start + SQUARES_BLOCK])
            for start in range(0, len(lines), SQUARES_BLOCK)
        )
        heading = (
            f"**The squares of 1 to {count}**, worked out in the sandbox ({len(lines)} lines):"
        )
        return "\n\n".join([heading, *blocks])

    return summarize


def _squares_plan(count: int) -> Plan:
    command = SQUARES_COMMAND.format(count=count)
    return Plan(rounds=(_calls("exec", "command", [command]),), summarize=_squares_summary(count))


def _calls(name: str, key: str, values: Sequence[str]) -> tuple[ScriptedToolCall, ...]:
    return tuple(ScriptedToolCall(name=name, arguments={key: value}) for value in values)


def plan_for(user_text: str) -> Plan:
    """The plan for a user message (see the module docstring); never raises."""
    lowered = user_text.lower()
    if lowered.strip().startswith(NOTE_PREFIX):
        note = user_text.strip()[len(NOTE_PREFIX) :].strip()
        write = ScriptedToolCall(
            name="write_file", arguments={"path": NOTE_PATH, "content": f"- {note}\n"}
        )
        read_back = (
            ScriptedToolCall(name="read_file", arguments={"path": NOTE_PATH}),
            ScriptedToolCall(name="list_dir", arguments={"path": "notes"}),
        )
        return Plan(rounds=((write,), read_back), summarize=_note_summary)
    urls = [url.rstrip(".,;:!?)") for url in _URL.findall(user_text)]
    if urls:
        intro = "I tried to fetch what you asked for:"
        return Plan(rounds=(_calls("web_fetch", "url", urls),), summarize=_report(intro))
    if "/etc/passwd" in lowered:
        intro = "I tried what a prompt-injected assistant would try. What autobot let me do:"
        return Plan(rounds=ATTACK_ROUNDS, summarize=_report(intro))
    squares = _SQUARES.search(user_text)
    if squares is not None:
        digits = squares[1].lstrip("0")
        count = MAX_SQUARES if len(digits) > len(str(MAX_SQUARES)) else int(digits or "0")
        return _squares_plan(max(1, min(count, MAX_SQUARES)))
    if "uname" in lowered:
        return Plan(
            rounds=(_calls("exec", "command", ["uname -a", COUNT_FILES]),),
            summarize=_exec_summary,
        )
    if "workspace" in lowered:
        return Plan(rounds=(_calls("list_dir", "path", ["."]),), summarize=_workspace_summary)
    return Plan(rounds=(), summarize=lambda _exchanges: HELP)


def _tokens(value: object) -> int:
    return max(1, len(json.dumps(value, default=str)) // CHARS_PER_TOKEN)


def consolidation_reply(request: Mapping[str, Any]) -> ScriptedReply:
    """Keep MEMORY.md as it is and log one history line. Answers with text that
    is not JSON (so nothing is written) when the prompt has an unexpected shape."""
    try:
        text = current_turn(request).user_text  # the prompt is the only user message
    except NotAConversation:
        text = ""
    match = _MEMORY_BLOCK.match(text)
    if match is None:
        return ScriptedReply(text="(the demo brain did not recognise this memory request)")
    memory = "" if match["memory"] == EMPTY_MEMORY else match["memory"]
    entry = "Ran the autobot demo: notes, workspace listing, sandboxed commands, refused attacks."
    reply = json.dumps({"memory": memory, "history_entry": entry})
    return ScriptedReply(text=reply, input_tokens=_tokens(text), output_tokens=_tokens(reply))


def answer(request: Mapping[str, Any]) -> ScriptedReply:
    """The demo model's answer to one Messages API request body.

    Raises `NotAConversation` (a ValueError) for a request with no user text.
    """
    if request.get("system") == CONSOLIDATION_SYSTEM and not request.get("tools"):
        return consolidation_reply(request)
    turn = current_turn(request)
    plan = plan_for(turn.user_text)
    input_tokens = _tokens(request.get("messages"))
    if turn.rounds < len(plan.rounds):
        calls = plan.rounds[turn.rounds]
        return ScriptedReply(
            tool_calls=calls,
            input_tokens=input_tokens,
            output_tokens=_tokens([attrs.asdict(call) for call in calls]),
        )
    expected = sum(len(round_) for round_ in plan.rounds)
    summarize = plan.summarize if len(turn.exchanges) == expected else _report(FALLBACK_INTRO)
    text = summarize(turn.exchanges)
    return ScriptedReply(text=text, input_tokens=input_tokens, output_tokens=_tokens(text))
