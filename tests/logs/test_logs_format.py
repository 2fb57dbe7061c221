"""format_record: the one-line shape operators grep, and no forged lines."""

from __future__ import annotations

import pytest

from autobot.logs.format import format_record, format_timestamp
from autobot.logs.records import Level, LogRecord

T = 1_795_593_181.123  # 2026-11-25T07:53:01.123Z


def record(**overrides: object) -> LogRecord:
    values: dict[str, object] = {
        "time": T,
        "level": Level.INFO,
        "source": "gateway",
        "message": "started",
    }
    values.update(overrides)
    return LogRecord(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (T, "2026-11-25T07:53:01.123Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
        (0.9996, "1970-01-01T00:00:01.000Z"),
        (1.0005, "1970-01-01T00:00:01.000Z"),
    ],
)
def test_timestamp_is_utc_with_milliseconds(epoch: float, expected: str) -> None:
    assert format_timestamp(epoch) == expected


@pytest.mark.parametrize(
    ("level", "text"),
    [(Level.DEBUG, "DEBUG"), (Level.INFO, "INFO "), (Level.WARN, "WARN "), (Level.ERROR, "ERROR")],
)
def test_level_column_is_padded(level: Level, text: str) -> None:
    assert (
        format_record(record(level=level)) == f"2026-11-25T07:53:01.123Z {text} [gateway] started"
    )


def test_fields_render_as_key_value_with_quoting_when_needed() -> None:
    line = format_record(
        record(
            level=Level.WARN,
            source="agent:telegram:42",
            message="ACCESS DENIED: path outside workspace",
            fields=(("path", "../x"), ("why", 'a "b" c'), ("empty", ""), ("eq", "k=v")),
        )
    )
    assert line == (
        "2026-11-25T07:53:01.123Z WARN  [agent:telegram:42] ACCESS DENIED: path outside "
        'workspace path=../x why="a \\"b\\" c" empty="" eq="k=v"'
    )


@pytest.mark.parametrize(
    "evil",
    [
        "ok\n2026-11-25T07:53:01.123Z WARN  [gateway] ACCESS DENIED: forged",
        "ok\r2026-11-25T07:53:01.123Z INFO  [gateway] forged",
        "ok\u20282026 forged",
        "ok\x1b[2Jclear",
    ],
)
def test_message_fields_and_source_cannot_forge_lines(evil: str) -> None:
    line = format_record(record(message=evil, source=evil, fields=((evil, evil),)))
    assert len(line.splitlines()) == 1
    assert "\x1b" not in line


def test_traceback_follows_on_indented_lines() -> None:
    line = format_record(
        record(
            level=Level.ERROR,
            message="turn failed",
            exc_text='Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom',
        )
    )
    head, *rest = line.split("\n")
    assert head == "2026-11-25T07:53:01.123Z ERROR [gateway] turn failed"
    assert rest == [
        "    Traceback (most recent call last):",
        '      File "x.py", line 1',
        "    ValueError: boom",
    ]
