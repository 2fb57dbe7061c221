"""What the bot's own files say, for `autobot status` (blocking, bounded reads).

- cron: the job book from the cron store (`autobot.cron.store`, read
  without its lock, as any reader may);
- sessions: how many conversation journals `sessions/` holds (one
  `*.jsonl` per conversation; archived ones do not count);
- last errors: the newest ERROR records of the log file (`logs/autobot.log`,
  and the rotated `autobot.log.1` when the current one has too few), read
  from the end, at most `TAIL_BYTES` of each, never through a symlink, only
  from a regular file. The log lines are already redacted when written
  (`autobot.logs.format`); their control characters stay escaped.

Each function returns a value or a one-line reason it could not (never raises
for a file that is missing, unreadable or odd).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from autobot.cron.store import CronStore, CronStoreError
from autobot.logs.sinks import LOG_FILE_NAME
from autobot.security.regular_file import FileRefused, open_regular
from autobot.status.facts import CronCount, LogError

TAIL_BYTES = 256 * 1024  # hundreds of lines: enough to find the last few errors
LAST_ERRORS = 5
# `2026-11-25T07:53:01.123Z ERROR [agent:telegram:42] message fields...`
_RECORD = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\w+) +\[([^\]]*)\] (.*)")


def cron_count(store: Path) -> CronCount | str:
    """The jobs in the cron store at `store` (none when there is no file)."""
    try:
        with CronStore(store) as cron:
            book = cron.load()
    except CronStoreError as exc:
        return str(exc)
    return CronCount(jobs=len(book.jobs), enabled=sum(job.enabled for job in book.jobs))


def session_count(sessions_dir: Path) -> int | str:
    """How many conversation journals `sessions_dir` holds (0 when it does not exist)."""
    try:
        with os.scandir(sessions_dir) as entries:
            return sum(
                1
                for entry in entries
                if entry.name.endswith(".jsonl") and entry.is_file(follow_symlinks=False)
            )
    except FileNotFoundError:
        return 0
    except OSError as exc:
        return f"cannot list {sessions_dir}: {exc.strerror or exc}"


def _tail(path: Path) -> str | None:
    """The last `TAIL_BYTES` of the regular file `path` from its first whole
    line (None when there is no file)."""
    try:
        fd = open_regular(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - TAIL_BYTES)
        data = os.pread(fd, min(size, TAIL_BYTES), start)
    finally:
        os.close(fd)
    if start:
        data = data[data.find(b"\n") + 1 :]
    return data.decode("utf-8", "replace")


def _errors(text: str) -> list[LogError]:
    found = []
    for line in text.splitlines():
        match = _RECORD.fullmatch(line)
        if match is not None and match.group(2) == "ERROR":
            time, _level, source, message = match.groups()
            found.append(LogError(time=time, source=source, message=message))
    return found


def last_errors(logs_dir: Path, count: int = LAST_ERRORS) -> list[LogError] | str:
    """The newest `count` ERROR records in the log files, oldest first."""
    found: list[LogError] = []
    for name in (LOG_FILE_NAME, f"{LOG_FILE_NAME}.1"):
        path = logs_dir / name
        try:
            text = _tail(path)
        except FileRefused as exc:
            return f"{path} {exc}"
        except OSError as exc:
            return f"cannot read {path}: {exc.strerror or exc}"
        if text is None:
            break
        found = _errors(text) + found
        if len(found) >= count:
            break
    return found[-count:]
