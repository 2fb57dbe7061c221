"""How `autobot demo` prints what happened (pure text building).

The conversation is shown as the Telegram users see it, chat by chat: each
user's line, one entry per tool call the model made with (the start of)
what the real tool returned, and every message the bot sent, numbered when
a reply took several messages:

    --- private chat: Alice (@alice, id 1001) ---
    Alice> Take a note: buy oat milk
      -- "@alice" is in allow_from
      [tool] write_file notes/todo.md
             Wrote 17 bytes to notes/todo.md
    autobot> Noted. ...
    autobot (1 of 2)> ...
      -- 3307 characters (Telegram takes 4096)

A step that gets no reply says so; the setting that decides a step is shown
when it differs from the previous step's. `where_to_look` is the closing
section: health and metrics, the log file with the greps an operator would
run, and the check that the demo's secrets are in neither the log nor any
request the model received.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from autobot.channels.telegram.chunks import MESSAGE_LIMIT
from autobot.channels.telegram.render import utf16_len
from autobot.demo.brain import describe_call
from autobot.demo.conversation import Exchange
from autobot.demo.logcheck import LogCheck
from autobot.demo.play import Outcome
from autobot.demo.scenario import Expect
from autobot.logs.records import ACCESS_DENIED, EXECUTING_TOOL, TOKENS
from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram.records import SentMessage

BOT_NAME = "autobot"
TOOL_PREFIX = "  [tool] "
RESULT_INDENT = " " * len(TOOL_PREFIX)
NOTE_PREFIX = "  -- "
MAX_RESULT_LINES = 6
MAX_LINE_CHARS = 110
# A message longer than this many lines shows its first and last lines only.
MAX_MESSAGE_LINES = 16
HEAD_LINES = 5
TAIL_LINES = 2


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def _more(hidden: int) -> str:
    return f"... ({hidden} more line{'' if hidden == 1 else 's'})"


def result_lines(text: str | None) -> list[str]:
    """The first `MAX_RESULT_LINES` non-empty lines of a tool result, clipped,
    plus a count of the lines left out."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ["(empty)"]
    shown = [_clip(line) for line in lines[:MAX_RESULT_LINES]]
    if len(lines) > MAX_RESULT_LINES:
        shown.append(_more(len(lines) - MAX_RESULT_LINES))
    return shown


def message_lines(text: str) -> list[str]:
    """A message's lines; of a long one, the first `HEAD_LINES`, a count of
    the lines left out, and the last `TAIL_LINES`."""
    lines = text.splitlines() or [""]
    if len(lines) <= MAX_MESSAGE_LINES:
        return lines
    hidden = len(lines) - HEAD_LINES - TAIL_LINES
    return [*lines[:HEAD_LINES], _more(hidden), *lines[-TAIL_LINES:]]


def tool_entry(exchange: Exchange) -> list[str]:
    """One tool call and its result, as printed under the user's line."""
    flag = "  (error)" if exchange.is_error else ""
    head = f"{TOOL_PREFIX}{_clip(describe_call(exchange))}{flag}"
    return [head, *(RESULT_INDENT + line for line in result_lines(exchange.result))]


def prefixed(prefix: str, lines: Sequence[str]) -> str:
    """`lines` after `prefix`, continuation lines aligned under the first."""
    first, *rest = lines or [""]
    pad = " " * len(prefix)
    return "\n".join([prefix + first, *(pad + line for line in rest)])


def chat_heading(chat: TelegramChat, sender: TelegramUser) -> str:
    """The line that opens a chat: who, with the ids an owner would allow."""
    if chat.is_group:
        return f'--- group "{chat.title}" (chat id {chat.id}) ---'
    handle = f"@{sender.username}, " if sender.username else ""
    return f"--- private chat: {sender.first_name} ({handle}id {sender.id}) ---"


def _bot_prefix(message: SentMessage, index: int, count: int, outcome: Outcome) -> str:
    details = []
    if count > 1:
        details.append(f"{index} of {count}")
    if message.reply_to_message_id == outcome.posted_id:
        details.append(f"reply to {outcome.step.sender.first_name}")
    return f"{BOT_NAME} ({', '.join(details)})> " if details else f"{BOT_NAME}> "


def _size_note(message: SentMessage) -> str:
    return f"{NOTE_PREFIX}{utf16_len(message.text)} characters (Telegram takes {MESSAGE_LIMIT})"


def outcome_text(outcome: Outcome, *, why: bool) -> str:
    """One played step: the user's line (then, with `why`, the setting that
    decides), the tool calls, and every message the bot sent, or that none came."""
    step = outcome.step
    lines = [prefixed(f"{step.sender.first_name}> ", step.text.splitlines())]
    if why:
        lines.append(NOTE_PREFIX + step.why)
    for exchange in outcome.exchanges:
        lines += tool_entry(exchange)
    count = len(outcome.sent)
    for index, message in enumerate(outcome.sent, start=1):
        prefix = _bot_prefix(message, index, count, outcome)
        lines.append(prefixed(prefix, message_lines(message.text)))
        if count > 1:
            lines.append(_size_note(message))
    if not outcome.sent and step.expect is Expect.SILENCE:
        lines.append(f"{NOTE_PREFIX}no reply")
    return "\n".join(lines) + "\n"


@attrs.frozen(kw_only=True)
class Places:
    """Where the running demo can be inspected, and what the model was sent.

    `secrets` are (what it is, its value): the demo key and the bot token.
    """

    http_url: str
    health: str  # the body /healthz answered, stripped
    channel_metrics: tuple[str, ...]  # the Telegram channel's /metrics samples
    log_file: str
    secrets: tuple[tuple[str, str], ...]
    model_requests: int  # requests the local model received
    requests_with_secrets: int  # of those, how many carried a secret in their body


def where_to_look(places: Places, check: LogCheck) -> str:
    """The closing section (see the module docstring)."""
    log = places.log_file
    lines = [
        "Where to look",
        f"  health   {places.http_url}/healthz -> {places.health}",
        f"  metrics  {places.http_url}/metrics",
        *(f"           {sample}" for sample in places.channel_metrics),
        f"  log      {log}",
        f'           grep "{ACCESS_DENIED}" {log}   ({check.access_denied} from this run)',
        f'           grep "{EXECUTING_TOOL}" {log}   ({check.tools_executed} from this run)',
        f'           grep "{TOKENS}" {log}   ({check.llm_calls} from this run)',
    ]
    for index, (what, value) in enumerate(places.secrets):
        found = "FOUND: redaction failed" if value in check.leaked else "0 (not in the log)"
        label = "  secrets  " if index == 0 else "           "
        lines.append(f"{label}grep -c -- {value} {log}  ->  {found}   ({what})")
    lines += [
        f"           the demo logged each once on purpose: this run's lines show "
        f"{check.redacted} [REDACTED]",
        f"           the model never saw them: {places.requests_with_secrets} of "
        f"{places.model_requests} requests carried one in their body",
    ]
    return "\n".join(lines) + "\n"
