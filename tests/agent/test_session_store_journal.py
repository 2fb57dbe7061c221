"""Session journal: round trip, torn-line repair, safe names, private modes."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.agent.session_store import (
    SessionStore,
    SessionStoreError,
    consolidated_entry,
    decode_message,
    encode_message,
    session_file_name,
    usage_entry,
)
from autobot.llm.types import ChatMessage, Role, ToolCall

HISTORY = (
    ChatMessage(role=Role.USER, content="list files\nplease ☃"),
    ChatMessage(
        role=Role.ASSISTANT,
        content="",
        tool_calls=(
            ToolCall(id="c1", name="list_dir", arguments={"path": "."}),
            ToolCall(id="c2", name="read_file", arguments={"path": "b.txt"}),
        ),
    ),
    ChatMessage(role=Role.TOOL, content="a.txt", tool_call_id="c1"),
    ChatMessage(role=Role.TOOL, content="boom", tool_call_id="c2", is_error=True),
    ChatMessage(role=Role.ASSISTANT, content="There is a.txt"),
)


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "bot" / "sessions", tmp_path / "bot" / "workspace")


def test_round_trip_with_usage_and_consolidation(store: SessionStore) -> None:
    store.append("telegram:42", [encode_message(m) for m in HISTORY])
    store.append("telegram:42", [usage_entry("2026-01-01", 100), usage_entry("2026-01-01", 5)])
    store.append("telegram:42", [consolidated_entry(2), usage_entry("2026-01-02", 7)])
    loaded = store.load("telegram:42")
    assert loaded.messages == HISTORY
    assert loaded.consolidated_upto == 2
    assert loaded.tokens_by_day == {"2026-01-01": 105, "2026-01-02": 7}
    assert (loaded.repaired, loaded.skipped) == (False, 0)


def test_missing_session_is_empty(store: SessionStore) -> None:
    loaded = store.load("slack:nobody")
    assert loaded.messages == () and loaded.tokens_by_day == {}
    assert not store.sessions_dir.exists()


def test_files_are_private_whatever_the_umask(store: SessionStore) -> None:
    old = os.umask(0)
    try:
        store.append("zulip:7", [encode_message(HISTORY[0])])
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.sessions_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path_for("zulip:7").stat().st_mode) == 0o600


def test_torn_last_line_is_dropped_and_repaired(store: SessionStore) -> None:
    store.append("t:1", [encode_message(m) for m in HISTORY])
    path = store.path_for("t:1")
    with path.open("ab") as f:
        f.write(b'{"t":"msg","role":"user","content":"half a li')
    loaded = store.load("t:1")
    assert loaded.repaired
    assert loaded.messages == HISTORY
    assert path.read_bytes().endswith(b"\n")
    # appending after the repair yields a clean journal
    store.append("t:1", [encode_message(HISTORY[0])])
    again = store.load("t:1")
    assert again.messages == (*HISTORY, HISTORY[0])
    assert (again.repaired, again.skipped, again.damaged) == (False, 0, False)


def test_corrupt_middle_lines_are_skipped_and_counted(store: SessionStore) -> None:
    store.append("t:1", [encode_message(HISTORY[0])])
    with store.path_for("t:1").open("ab") as f:
        f.write(b"not json\n")
        f.write(b'{"t":"msg","role":"robot","content":"x"}\n')
        f.write(b'{"t":"weird"}\n')
        f.write(b'{"t":"usage","day":"d","tokens":"lots"}\n')
    store.append("t:1", [encode_message(HISTORY[4])])
    loaded = store.load("t:1")
    assert loaded.messages == (HISTORY[0], HISTORY[4])
    assert loaded.skipped == 4


@pytest.mark.parametrize(
    "entry",
    [
        {"t": "msg", "role": "user"},
        {"t": "msg", "role": "user", "content": 5},
        {"t": "msg", "role": "tool", "content": "x", "tool_call_id": 3},
        {"t": "msg", "role": "assistant", "content": "", "tool_calls": [{"id": "a"}]},
    ],
)
def test_decode_message_rejects_bad_shapes(entry: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="malformed message entry"):
        decode_message(entry)


def test_consolidated_marker_never_exceeds_history(store: SessionStore) -> None:
    store.append("t:1", [encode_message(HISTORY[0]), consolidated_entry(99)])
    assert store.load("t:1").consolidated_upto == 1


@pytest.mark.parametrize(
    "key", ["telegram:../../x", "../../etc/passwd", "/abs/path", "a/b\\c", ":", "", "\x00", ".."]
)
def test_hostile_keys_stay_inside_the_directory(store: SessionStore, key: str) -> None:
    store.append(key, [encode_message(HISTORY[0])])
    path = store.path_for(key)
    assert path.parent == store.sessions_dir
    assert path.is_file()
    assert store.load(key).messages == (HISTORY[0],)
    assert [p.name for p in store.sessions_dir.iterdir()] == [path.name]


@given(st.text(max_size=200))
def test_file_names_are_safe(key: str) -> None:
    name = session_file_name(key)
    assert name.endswith(".jsonl")
    assert set(name[: -len(".jsonl")]) <= set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
    )
    assert not name.startswith((".", "-"))
    assert len(name) <= 48 + 1 + 16 + len(".jsonl")


@given(st.text(max_size=30), st.text(max_size=30))
def test_distinct_keys_get_distinct_files(a: str, b: str) -> None:
    if a != b:
        assert session_file_name(a) != session_file_name(b)


def test_distinct_keys_with_the_same_sanitised_form_do_not_collide() -> None:
    assert session_file_name("telegram:1/2") != session_file_name("telegram:1_2")


@pytest.mark.parametrize(
    ("sessions", "workspace"),
    [("bot/workspace/sessions", "bot/workspace"), ("bot/workspace", "bot/workspace")],
)
def test_sessions_inside_the_workspace_are_refused(
    tmp_path: Path, sessions: str, workspace: str
) -> None:
    with pytest.raises(SessionStoreError, match="inside the workspace"):
        SessionStore(tmp_path / sessions, tmp_path / workspace)


def test_sessions_inside_the_workspace_through_a_symlink_are_refused(tmp_path: Path) -> None:
    (tmp_path / "workspace" / "inner").mkdir(parents=True)
    (tmp_path / "sessions").symlink_to(tmp_path / "workspace" / "inner")
    with pytest.raises(SessionStoreError):
        SessionStore(tmp_path / "sessions", tmp_path / "workspace")


_TEXTS = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(contents=st.lists(_TEXTS, min_size=1, max_size=6), cut=st.integers(min_value=0))
def test_a_batch_torn_anywhere_loads_as_a_prefix_of_its_entries(
    tmp_path_factory: pytest.TempPathFactory, contents: list[str], cut: int
) -> None:
    """One `append` is one write; a crash can cut it at any byte. Whatever
    survives loads as the entries before it plus a prefix of the batch, and
    the torn tail is repaired."""
    root = tmp_path_factory.mktemp("torn")
    store = SessionStore(root / "sessions", root / "workspace")
    before = ChatMessage(role=Role.USER, content="before")
    store.append("t:1", [encode_message(before)])
    path = store.path_for("t:1")
    kept = path.stat().st_size
    batch = [ChatMessage(role=Role.ASSISTANT, content=text) for text in contents]
    store.append("t:1", [encode_message(m) for m in batch])
    data = path.read_bytes()
    torn_at = kept + cut % (len(data) - kept + 1)
    path.write_bytes(data[:torn_at])
    loaded = store.load("t:1")
    complete = data[kept:torn_at].count(b"\n")
    assert loaded.messages == (before, *batch[:complete])
    assert loaded.skipped == 0
    assert loaded.repaired == (not data[:torn_at].endswith(b"\n"))
    assert path.read_bytes().endswith(b"\n")


def test_unsynced_entries_are_read_back_and_synced_by_the_next_append(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    store.append("t:1", [encode_message(HISTORY[0])], sync=False)
    assert synced == []
    assert store.load("t:1").messages == HISTORY[:1]  # a restarted process sees it
    store.append("t:1", [encode_message(m) for m in HISTORY[1:]])
    assert len(synced) == 1  # one fsync covers both appends (fsync is per file)
    assert store.load("t:1").messages == HISTORY


def test_nothing_is_written_when_an_entry_cannot_be_encoded(store: SessionStore) -> None:
    store.append("t:1", [encode_message(HISTORY[0])])
    with pytest.raises(TypeError):
        store.append("t:1", [encode_message(HISTORY[1]), {"t": "msg", "bad": object()}])
    assert store.load("t:1").messages == HISTORY[:1]


# --- the journal index: which sessions are known to have no journal ------------------


def test_before_a_scan_every_session_may_have_a_journal(store: SessionStore) -> None:
    assert store.may_exist("t:never-seen")


def test_a_scan_of_a_missing_directory_knows_of_no_journal_until_one_is_written(
    store: SessionStore,
) -> None:
    store.scan()
    assert not store.may_exist("t:1")
    store.append("t:1", [encode_message(HISTORY[0])], sync=False)
    assert store.may_exist("t:1") and not store.may_exist("t:2")


def test_a_scan_finds_the_journals_already_on_disk(store: SessionStore, tmp_path: Path) -> None:
    store.append("telegram:42", [encode_message(m) for m in HISTORY])
    fresh = SessionStore(store.sessions_dir, tmp_path / "workspace")
    fresh.scan()
    assert fresh.may_exist("telegram:42")
    assert not fresh.may_exist("telegram:43")
    assert fresh.load("telegram:42").messages == HISTORY


def test_a_failed_append_still_counts_as_a_journal_that_may_exist(
    store: SessionStore, tmp_path: Path
) -> None:
    # Whatever the failure left on disk must be read, not appended to blindly.
    store.scan()
    target = tmp_path / "elsewhere.jsonl"
    target.write_bytes(b"")
    store.sessions_dir.mkdir(parents=True)
    store.path_for("t:2").symlink_to(target)
    with pytest.raises(OSError):
        store.append("t:2", [encode_message(HISTORY[0])])
    assert store.may_exist("t:2")
    assert target.read_bytes() == b""


PLAIN = tuple(ChatMessage(role=Role.USER, content=text) for text in ("one", "two"))


def test_a_loose_journal_is_tightened_on_its_first_append(store: SessionStore) -> None:
    store.append("t:1", [encode_message(PLAIN[0])])
    path = store.path_for("t:1")
    path.chmod(0o644)
    fresh = SessionStore(store.sessions_dir, store.workspace)
    fresh.append("t:1", [encode_message(PLAIN[1])])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fresh.load("t:1").messages == PLAIN[:2]


def test_a_sessions_directory_removed_while_running_is_made_again(store: SessionStore) -> None:
    store.scan()
    store.append("t:1", [encode_message(PLAIN[0])])
    shutil.rmtree(store.sessions_dir)
    store.append("t:2", [encode_message(PLAIN[1])])
    store.append("t:1", [encode_message(PLAIN[1])])
    assert stat.S_IMODE(store.sessions_dir.stat().st_mode) == 0o700
    assert store.load("t:2").messages == PLAIN[1:2]
    assert store.load("t:1").messages == PLAIN[1:2]  # the old file went with the directory
