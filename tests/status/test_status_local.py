"""What the bot's files say: cron jobs, sessions, the newest errors of the log."""

from __future__ import annotations

import os
from pathlib import Path

from autobot.cron.book import JobBook
from autobot.cron.jobs import AgentTurn, EverySchedule, Job
from autobot.cron.store import encode_book
from autobot.status.facts import CronCount, LogError
from autobot.status.local import TAIL_BYTES, cron_count, last_errors, session_count
from autobot.store.atomic import write_private_file


def job(job_id: str, enabled: bool = True) -> Job:
    return Job(
        id=job_id,
        owner="telegram:42",
        name="water the plants",
        schedule=EverySchedule(seconds=3600),
        action=AgentTurn(message="remind me"),
        enabled=enabled,
        created_at=1000.0,
        next_run_at=4600.0 if enabled else None,
    )


def test_cron_jobs_are_counted_from_the_store(tmp_path: Path) -> None:
    store = tmp_path / "cron.json"
    assert cron_count(store) == CronCount(jobs=0, enabled=0)  # no file: no jobs
    book = JobBook(jobs=(job("0000000a"), job("0000000b", enabled=False), job("0000000c")))
    write_private_file(store, encode_book(book))
    assert cron_count(store) == CronCount(jobs=3, enabled=2)


def test_an_unusable_cron_store_is_a_reason(tmp_path: Path) -> None:
    store = tmp_path / "cron.json"
    store.write_text('{"version": 1, "jobs": [{"id": 5}]}')
    reason = cron_count(store)
    assert isinstance(reason, str)
    assert reason.startswith(f"cron store {store} is unusable:")
    store.unlink()
    os.mkfifo(store)
    assert "not a regular file" in str(cron_count(store))  # and it did not hang


def test_sessions_are_the_journals_in_the_sessions_directory(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    assert session_count(sessions) == 0
    sessions.mkdir()
    for name in ("telegram_42-0123.jsonl", "cli_me-4567.jsonl"):
        (sessions / name).write_text("{}\n")
    (sessions / "telegram_1-89ab.jsonl.archived-20260101").write_text("{}\n")
    (sessions / "link.jsonl").symlink_to(sessions / "cli_me-4567.jsonl")
    (sessions / "dir.jsonl").mkdir()
    assert session_count(sessions) == 2
    (tmp_path / "file").write_text("")
    assert session_count(tmp_path / "file").startswith("cannot list")  # type: ignore[union-attr]


def record(second: int, level: str, source: str, message: str) -> str:
    return f"2026-11-25T07:53:{second:02d}.123Z {level:<5} [{source}] {message}\n"


def test_the_newest_errors_come_from_the_end_of_the_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "autobot.log").write_text(
        record(1, "INFO", "gateway", "started")
        + record(2, "ERROR", "agent:telegram:42", "turn failed error=boom")
        + "    Traceback (most recent call last):\n"
        + record(3, "WARN", "channel:telegram", "ACCESS DENIED: sender 7")
        + record(4, "ERROR", "llm", "provider answered 500")
    )
    assert last_errors(logs) == [
        LogError("2026-11-25T07:53:02.123Z", "agent:telegram:42", "turn failed error=boom"),
        LogError("2026-11-25T07:53:04.123Z", "llm", "provider answered 500"),
    ]
    assert last_errors(logs, count=1) == [
        LogError("2026-11-25T07:53:04.123Z", "llm", "provider answered 500")
    ]


def test_the_rotated_log_fills_in_when_the_current_one_has_too_few(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "autobot.log.1").write_text(
        "".join(record(s, "ERROR", "old", f"e{s}") for s in range(1, 7))
    )
    (logs / "autobot.log").write_text(record(30, "ERROR", "new", "latest"))
    assert [e.message for e in last_errors(logs)] == ["e3", "e4", "e5", "e6", "latest"]


def test_only_the_tail_of_a_huge_log_is_read(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    early = record(0, "ERROR", "early", "far back")
    filler = record(1, "INFO", "gateway", "x" * 200) * (2 * TAIL_BYTES // 200)
    (logs / "autobot.log").write_text(early + filler + record(59, "ERROR", "late", "recent"))
    assert [e.source for e in last_errors(logs)] == ["late"]


def test_no_log_no_errors_and_odd_logs_are_a_reason(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    assert last_errors(logs) == []
    logs.mkdir()
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text(record(1, "ERROR", "x", "should not be read"))
    (logs / "autobot.log").symlink_to(elsewhere)
    assert last_errors(logs) == (
        f"{logs / 'autobot.log'} is a symbolic link, which is never followed"
    )
    (logs / "autobot.log").unlink()
    os.mkfifo(logs / "autobot.log")
    assert last_errors(logs) == f"{logs / 'autobot.log'} is a FIFO (named pipe), not a regular file"
