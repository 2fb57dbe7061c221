"""One-line text rendering of a `LogRecord` (pure).

    2026-11-25T07:53:01.123Z WARN  [agent:telegram:42] ACCESS DENIED: path outside workspace path=../x

Timestamps are UTC with milliseconds. The message keeps the operator-grep
prefixes (`ACCESS DENIED`, `Executing tool:`, `Tokens:`) that the `Logger`
helpers put there. Control characters in the source, message and fields are
escaped (`\\n`, `\\x1b`), so a record can never forge a second log line; field
values with spaces, quotes or `=` are double-quoted. A traceback follows on
indented lines, which never start with a timestamp.
"""

from __future__ import annotations

import datetime
import re

from autobot.logs.records import LogRecord

TRACEBACK_INDENT = "    "

# C0 controls, DEL, and the characters `str.splitlines` also treats as line ends.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_NEEDS_QUOTES = re.compile(r'[\s"=\\]')
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char: str) -> str:
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}")


def _escape_control(text: str) -> str:
    return _CONTROL.sub(lambda match: _escape_char(match.group()), text)


def _field_value(value: str) -> str:
    if value and not _NEEDS_QUOTES.search(value):
        return _escape_control(value)
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{_escape_control(quoted)}"'


def format_timestamp(epoch_seconds: float) -> str:
    """`2026-11-25T07:53:01.123Z` (UTC, milliseconds rounded)."""
    seconds, millis = divmod(round(epoch_seconds * 1000), 1000)
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"


def format_record(record: LogRecord) -> str:
    """The record as one line, plus one indented line per traceback line; no
    trailing newline. Format the *redacted* record: this function does not redact."""
    head = (
        f"{format_timestamp(record.time)} {record.level.name:<5} "
        f"[{_escape_control(record.source)}] {_escape_control(record.message)}"
    )
    fields = "".join(
        f" {_escape_control(name)}={_field_value(value)}" for name, value in record.fields
    )
    lines = [head + fields]
    if record.exc_text:
        lines.extend(
            TRACEBACK_INDENT + _escape_control(line) for line in record.exc_text.splitlines()
        )
    return "\n".join(lines)
