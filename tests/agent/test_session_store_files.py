"""Session journals are regular files only: a FIFO, a symbolic link, a
directory or an unusable sessions/ directory is one JournalError line naming
`sessions/<file>`, never a hang, a followed link or a host path."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from autobot.agent.session_store import (
    JournalError,
    SessionStore,
    encode_message,
    journal_failure,
    session_file_name,
)
from autobot.llm.types import ChatMessage, Role
from autobot.testing.unprivileged import NOBODY, run_as_nobody, traversable_directory

KEY = "cli:files"
NAME = session_file_name(KEY)
SHOWN = f"sessions/{NAME}"
ENTRY = encode_message(ChatMessage(role=Role.USER, content="hello"))
# Only a guard against the old behaviour (a read blocked forever on a FIFO):
# a refusal takes microseconds. Never asserted as a duration.
HANG_GUARD_SECONDS = 30


def _store(bot: Path) -> SessionStore:
    (bot / "workspace").mkdir(parents=True, exist_ok=True)
    return SessionStore(bot / "sessions", bot / "workspace")


def _sessions(bot: Path) -> Path:
    sessions = bot / "sessions"
    sessions.mkdir(mode=0o700, parents=True)
    return sessions


async def _raises_guarded(call: Callable[[], object]) -> JournalError:
    """The JournalError `call()` raises in a worker thread, failing (not
    hanging) the test if it blocks."""
    with trio.fail_after(HANG_GUARD_SECONDS):
        try:
            await trio.to_thread.run_sync(call, abandon_on_cancel=True)
        except JournalError as error:
            return error
    raise AssertionError("no JournalError")


def _clean(error: JournalError, bot: Path) -> str:
    message = str(error)
    assert "\n" not in message and str(bot) not in message
    return message


async def test_a_fifo_journal_is_refused_on_load_without_waiting(tmp_path: Path) -> None:
    store = _store(tmp_path)
    os.mkfifo(_sessions(tmp_path) / NAME)
    error = await _raises_guarded(lambda: store.load(KEY))
    assert _clean(error, tmp_path) == (
        f"session journal {SHOWN} is a FIFO (named pipe), not a regular file"
    )


async def test_a_fifo_journal_with_a_writer_is_refused_before_reading(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fifo = _sessions(tmp_path) / NAME
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, json.dumps(ENTRY).encode() + b"\n")
        error = await _raises_guarded(lambda: store.load(KEY))
        assert "is a FIFO" in str(error)
        assert os.read(reader, 1000).startswith(b'{"t"')  # nothing was consumed
    finally:
        os.close(writer)
        os.close(reader)


async def test_appending_to_a_fifo_that_appeared_after_the_scan_never_hangs(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    _sessions(tmp_path)
    store.scan()  # no journal yet: the append will try to create it
    os.mkfifo(tmp_path / "sessions" / NAME)
    error = await _raises_guarded(lambda: store.append(KEY, [ENTRY]))
    assert _clean(error, tmp_path) == (
        f"session journal {SHOWN} is not a regular file (a FIFO or a socket)"
    )


async def test_appending_to_a_fifo_with_a_reader_writes_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fifo = _sessions(tmp_path) / NAME
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        error = await _raises_guarded(lambda: store.append(KEY, [ENTRY]))
        assert _clean(error, tmp_path) == (
            f"session journal {SHOWN} is a FIFO (named pipe), not a regular file"
        )
        assert os.read(reader, 1000) == b""  # no record went into the pipe
    finally:
        os.close(reader)


def test_a_symlinked_journal_is_not_followed_on_load(tmp_path: Path) -> None:
    store = _store(tmp_path)
    forged = tmp_path / "forged.jsonl"
    forged.write_text(json.dumps(ENTRY) + "\n")
    (_sessions(tmp_path) / NAME).symlink_to(forged)
    with pytest.raises(JournalError) as caught:
        store.load(KEY)
    assert _clean(caught.value, tmp_path) == (
        f"session journal {SHOWN} is a symbolic link, which is never followed"
    )
    with pytest.raises(JournalError, match=r"^cannot write session journal"):
        store.append(KEY, [ENTRY])  # the writer refuses it too
    assert forged.read_text() == json.dumps(ENTRY) + "\n"


async def test_a_symlink_to_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fifo = tmp_path / "elsewhere.fifo"
    os.mkfifo(fifo)
    (_sessions(tmp_path) / NAME).symlink_to(fifo)
    error = await _raises_guarded(lambda: store.load(KEY))
    assert "is a symbolic link, which is never followed" in _clean(error, tmp_path)


def test_a_directory_in_place_of_a_journal(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (_sessions(tmp_path) / NAME).mkdir()
    with pytest.raises(JournalError) as caught:
        store.load(KEY)
    assert _clean(caught.value, tmp_path) == (
        f"session journal {SHOWN} is a directory, not a regular file"
    )
    with pytest.raises(JournalError) as appended:
        store.append(KEY, [ENTRY])
    assert str(appended.value) == f"cannot write session journal {SHOWN}: Is a directory"


def test_sessions_that_is_a_file(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "sessions").write_text("not a directory")
    with pytest.raises(JournalError) as scanned:
        store.scan()
    assert _clean(scanned.value, tmp_path) == (
        "cannot list the sessions directory sessions: Not a directory"
    )
    with pytest.raises(JournalError) as loaded:
        store.load(KEY)
    assert _clean(loaded.value, tmp_path) == (
        f"cannot read session journal {SHOWN}: sessions is not a directory"
    )
    with pytest.raises(JournalError) as appended:
        store.append(KEY, [ENTRY])
    assert _clean(appended.value, tmp_path) == (
        "cannot use the sessions directory sessions: it is not a directory "
        "(nor a symbolic link to one)"
    )
    assert (tmp_path / "sessions").read_text() == "not a directory"


def test_sessions_that_is_a_dangling_symlink(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "sessions").symlink_to(tmp_path / "gone")
    store.scan()  # nothing to list: no journal exists
    assert store.load(KEY).messages == ()
    with pytest.raises(JournalError) as appended:
        store.append(KEY, [ENTRY])
    assert _clean(appended.value, tmp_path) == (
        "cannot use the sessions directory sessions: it is not a directory "
        "(nor a symbolic link to one)"
    )
    assert not (tmp_path / "gone").exists()


def test_an_unreadable_sessions_directory_as_an_unprivileged_user() -> None:
    with traversable_directory() as base:
        bot = base / "bot"
        bot.mkdir(mode=0o711)
        store = _store(bot)
        sessions = _sessions(bot)  # root's, 0700: closed to everyone else
        (sessions / NAME).write_text(json.dumps(ENTRY) + "\n")
        os.chown(bot / "workspace", NOBODY, NOBODY)

        def attempts() -> str:
            outcomes = []
            for call in (store.scan, lambda: store.load(KEY), lambda: store.append(KEY, [ENTRY])):
                try:
                    call()
                    outcomes.append("no error")
                except JournalError as error:
                    outcomes.append(str(error))
            return json.dumps(outcomes)

        outcomes = json.loads(run_as_nobody(attempts))
        assert (sessions / NAME).read_text() == json.dumps(ENTRY) + "\n"  # untouched
    assert outcomes == [
        "cannot list the sessions directory sessions: Permission denied",
        f"cannot read session journal {SHOWN}: Permission denied",
        f"cannot write session journal {SHOWN}: Permission denied",
    ]


def test_a_torn_journal_is_still_repaired(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.append(KEY, [ENTRY])
    path = tmp_path / "sessions" / NAME
    with path.open("ab") as handle:
        handle.write(b'{"t":"msg","ro')
    loaded = store.load(KEY)
    assert loaded.repaired and [m.content for m in loaded.messages] == ["hello"]
    assert path.read_bytes() == json.dumps(ENTRY, separators=(",", ":")).encode() + b"\n"


def test_journal_failure_finds_the_journal_error_behind_a_crash() -> None:
    error = JournalError("session journal sessions/x.jsonl is a FIFO (named pipe), ...")
    nested = ExceptionGroup("turn", [ValueError("other"), ExceptionGroup("inner", [error])])
    assert journal_failure(nested) == str(error)
    wrapped = RuntimeError("disk runner failed")
    wrapped.__cause__ = error
    assert journal_failure(wrapped) == str(error)
    assert journal_failure(ExceptionGroup("turn", [ValueError("bug")])) is None
    assert journal_failure(OSError("plain")) is None
