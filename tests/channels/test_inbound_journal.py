"""Inbound journal: round trips, dedup across restarts, damage, modes, refusals, compaction."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from autobot.channels.base import (
    Attachment,
    AttachmentKind,
    InboundKind,
    InboundMessage,
    OutboundMessage,
    ScheduledRun,
)
from autobot.channels.inbound_journal import (
    MAX_DEDUP_KEY_LENGTH,
    Arrival,
    AsyncInboundJournal,
    InboundJournal,
    InboundJournalError,
    decode_inbound,
    default_dedup_keys,
    encode_inbound,
    inbound_journal_path,
)
from autobot.runtime.batching import ThreadBatcher, run_inline

FULL = InboundMessage(
    channel="telegram",
    chat_id="-100200",
    content="line one\nline two ☃ 👩‍💻 \u2028 lone \udc80 surrogate",
    sender_id="42",
    sender_name='Alice "A" O\'Neil',
    kind=InboundKind.CRON,
    message_id="17",
    thread_id="5",
    reply_to_id="16",
    is_group=True,
    addressed=True,
    attachments=(
        Attachment(kind=AttachmentKind.PHOTO, path="inbox/a.jpg", mime_type="image/jpeg", size=9),
        Attachment(kind=AttachmentKind.VOICE, path="inbox/b.ogg"),
    ),
    journal_id="99",
)


def message(n: int, chat: str = "42") -> InboundMessage:
    return InboundMessage(channel="telegram", chat_id=chat, content=f"hello {n}", message_id=str(n))


def arrive(n: int, chat: str = "42") -> Arrival:
    """Telegram-like: update id 1000+n, message id n in `chat`."""
    msg = message(n, chat)
    return Arrival(message=msg, dedup_keys=default_dedup_keys(msg, 1000 + n), position=1000 + n)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return inbound_journal_path(tmp_path / "bot", "telegram")


@pytest.fixture
def journal(path: Path) -> Iterator[InboundJournal]:
    opened = InboundJournal.open(path)
    yield opened.journal
    opened.journal.close()


def reopen(path: Path, **limits: int) -> Any:
    opened = InboundJournal.open(path, **limits)
    opened.journal.close()
    return opened


def in_line(entry_id: str, n: int) -> dict[str, Any]:
    keys = list(default_dedup_keys(message(n), 1000 + n))
    return {
        "op": "in",
        "id": entry_id,
        "dedup": keys,
        "pos": 1000 + n,
        "message": encode_inbound(message(n)),
    }


def append_one(journal: InboundJournal, n: int) -> Any:
    return journal.append(*attrs.astuple(arrive(n), recurse=False))


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


# --- codec -----------------------------------------------------------------------


def test_every_message_field_round_trips_and_journal_id_comes_from_the_entry() -> None:
    encoded = encode_inbound(FULL)
    for field in attrs.fields(InboundMessage):  # a new field must be journaled too
        if field.name == "scheduled":  # a cron run's completion channel: never journaled
            continue
        assert getattr(FULL, field.name) != field.default, field.name
        assert field.name in encoded or field.name == "journal_id"
    wire = json.loads(json.dumps(encoded, ensure_ascii=True))
    assert decode_inbound(wire, "7") == attrs.evolve(FULL, journal_id="7")
    assert decode_inbound(wire, None) == attrs.evolve(FULL, journal_id=None)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"content": 5}, "content is not of type str"),
        ({"is_group": 1}, "is_group is not of type bool"),
        ({"message_id": 17}, "message_id is not of type str"),
        ({"kind": "robot"}, "'robot' is not a valid InboundKind"),
        ({"extra": "x"}, r"unknown fields \['extra'\]"),
        ({"attachments": [{"kind": "photo", "path": "p", "mime_type": "", "size": -1}]}, "size"),
        ({"attachments": [{"kind": "photo", "path": "p", "mime_type": ""}]}, r"\['size'\]"),
        ({"attachments": [{"kind": "photo", "path": "p", "mime_type": "", "size": True}]}, "size"),
    ],
)
def test_decode_is_strict_and_names_the_field(change: dict[str, Any], complaint: str) -> None:
    data = {**encode_inbound(FULL), **change}
    with pytest.raises(ValueError, match=complaint):
        decode_inbound(data, None)


def test_decode_reports_a_missing_field() -> None:
    data = encode_inbound(FULL)
    del data["chat_id"]
    with pytest.raises(ValueError, match=r"missing or unknown fields \['chat_id'\]"):
        decode_inbound(data, None)


def test_journal_path_and_channel_names(tmp_path: Path) -> None:
    assert inbound_journal_path(tmp_path, "telegram") == (
        tmp_path / "state" / "inbound" / "telegram.jsonl"
    )
    for bad in ("", "../x", "Telegram", "a/b", "a.b", "x" * 33, "1abc"):
        with pytest.raises(ValueError, match="plain lowercase name"):
            inbound_journal_path(tmp_path, bad)


def test_default_dedup_keys() -> None:
    pos_key, msg_key = default_dedup_keys(message(7, chat="-5"), 1234)
    assert pos_key == "pos:1234"
    assert re.fullmatch("msg:[0-9a-f]{32}", msg_key)
    assert default_dedup_keys(message(7, chat="-5"), None) == (msg_key,)
    # Chat and message ids of any alphabet never run together into one key.
    colon = InboundMessage(channel="zulip", chat_id="a:b", content="", message_id="c")
    other = InboundMessage(channel="zulip", chat_id="a", content="", message_id="b:c")
    assert default_dedup_keys(colon, None) != default_dedup_keys(other, None)
    huge = InboundMessage(channel="x", chat_id="c" * 10_000, content="", message_id="\udc80")
    assert len(default_dedup_keys(huge, None)[0]) == 36
    assert default_dedup_keys(InboundMessage(channel="c", chat_id="1", content=""), 3) == ("pos:3",)


# --- append, done, reopen ---------------------------------------------------------


def test_append_done_and_reopen_round_trip(path: Path) -> None:
    opened = InboundJournal.open(path)
    assert opened.pending == () and opened.skipped == () and opened.torn_bytes == 0
    journal = opened.journal
    first = journal.append(attrs.evolve(FULL, journal_id=None), ("pos:1",), 1)
    second = journal.append(message(2), ("pos:2", "msg:42:2"), 2)
    third = journal.append(message(3), ("pos:3",))
    assert first is not None and second is not None and third is not None
    assert [first.id, second.id, third.id] == ["1", "2", "3"]
    assert first.message == attrs.evolve(FULL, journal_id="1")
    assert second.message.journal_id == "2" and second.position == 2
    assert journal.backlog == 3 and journal.highest_position == 2
    assert journal.mark_done("2") == 1
    assert journal.backlog == 2
    journal.close()

    again = reopen(path)
    assert again.pending == (first, third)
    assert again.journal.highest_position == 2
    assert [line["op"] for line in lines_of(path)] == ["in", "in", "in", "done"]


def test_ids_continue_after_a_restart(path: Path) -> None:
    with InboundJournal.open(path).journal as journal:
        journal.append_many([arrive(1), arrive(2)])
    with InboundJournal.open(path).journal as journal:
        entry = append_one(journal, 3)
    assert entry is not None and entry.id == "3"


def test_mark_done_is_idempotent_and_refuses_ids_never_issued(
    journal: InboundJournal, path: Path
) -> None:
    journal.append_many([arrive(1), arrive(2)])
    assert journal.mark_done("1", "1", "2") == 2
    assert journal.mark_done("1") == 0  # already done: nothing written
    before = path.read_bytes()
    for bad in ("3", "0", "01", "x", "-1", "1 "):
        with pytest.raises(ValueError, match="is not an entry id"):
            journal.mark_done("2", bad)
    assert path.read_bytes() == before
    assert journal.backlog == 0


def test_append_is_one_write_and_one_fdatasync_and_done_is_one_unsynced_write(
    journal: InboundJournal, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real_write, real_fdatasync = os.write, os.fdatasync

    def write(fd: int, data: bytes) -> int:
        calls.append(("write", os.readlink(f"/proc/self/fd/{fd}")))
        return real_write(fd, data)

    def fdatasync(fd: int) -> None:
        calls.append(("fdatasync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fdatasync(fd)

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "fsync", fsync)
    journal.append_many([arrive(n) for n in range(1, 6)])
    assert calls == [("write", str(path)), ("fdatasync", str(path))]
    calls.clear()
    journal.mark_done("1", "2")
    assert calls == [("write", str(path))]
    calls.clear()
    assert append_one(journal, 1) is None  # duplicate
    assert calls == []


# --- dedup ------------------------------------------------------------------------


def test_redelivery_is_dropped_by_update_id_and_by_chat_message_id_across_restarts(
    path: Path,
) -> None:
    with InboundJournal.open(path).journal as journal:
        journal.append_many([arrive(1), arrive(2)])
        journal.mark_done("1")
    size = path.stat().st_size
    with InboundJournal.open(path).journal as journal:
        same_update = arrive(1)  # answered before the restart
        same_message = Arrival(  # pending; the platform gave it a new update id
            message=message(2), dedup_keys=default_dedup_keys(message(2), 5000), position=5000
        )
        other_chat = Arrival(  # same message id in another chat: not a duplicate
            message=message(2, chat="43"),
            dedup_keys=default_dedup_keys(message(2, chat="43"), 1003),
            position=1003,
        )
        assert journal.append_many([same_update, same_message, other_chat])[:2] == [None, None]
        assert journal.backlog == 2
        assert journal.highest_position == 1003  # a duplicate's position (5000) is not recorded
    assert path.stat().st_size > size
    assert [e.message.chat_id for e in reopen(path).pending] == ["42", "43"]


def test_duplicates_inside_one_batch_keep_the_first(journal: InboundJournal) -> None:
    entries = journal.append_many([arrive(1), arrive(1), arrive(2)])
    assert [e.id if e else None for e in entries] == ["1", None, "2"]


def test_answered_keys_age_out_by_count(path: Path) -> None:
    with InboundJournal.open(path, keep_done=2).journal as journal:
        journal.append_many([arrive(n) for n in range(1, 5)])
        journal.mark_done("1", "2", "3", "4")
    with InboundJournal.open(path, keep_done=2).journal as journal:
        results = journal.append_many([arrive(n) for n in range(1, 5)])
    assert [e.id if e else None for e in results] == ["5", "6", None, None]


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "position", "complaint"),
    [
        ((), 1, "1 to 8 keys"),
        (tuple(f"k{n}" for n in range(9)), 1, "1 to 8 keys"),
        (("",), 1, "dedup key must be"),
        (("x" * (MAX_DEDUP_KEY_LENGTH + 1),), 1, "dedup key must be"),
        (("a", "a"), 1, "repeat a key"),
        (["a"], 1, "tuple"),
        (("a",), -1, "position"),
        (("a",), True, "position"),
        (("a",), "7", "position"),
    ],
)
def test_bad_arrivals_raise_and_write_nothing(
    journal: InboundJournal, path: Path, keys: Any, position: Any, complaint: str
) -> None:
    journal.append(message(1), ("ok",), 1)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=complaint):
        journal.append_many(
            [arrive(2), Arrival(message=message(3), dedup_keys=keys, position=position)]
        )
    assert path.read_bytes() == before
    assert journal.backlog == 1
    assert journal.append(message(2), ("next",)) is not None


def test_messages_that_cannot_be_journaled_are_refused(journal: InboundJournal, path: Path) -> None:
    with pytest.raises(ValueError, match="already journaled as '3'"):
        journal.append(attrs.evolve(message(1), journal_id="3"), ("a",))
    with pytest.raises(ValueError, match="cannot be journaled"):
        journal.append(attrs.evolve(message(1), kind="user"), ("a",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="content is not of type str"):
        journal.append(attrs.evolve(message(1), content=b"bytes"), ("a",))  # type: ignore[arg-type]
    done, _ = trio.open_memory_channel[OutboundMessage](1)
    scheduled = ScheduledRun(job_id="0a1b2c3d", name="water", done=done)
    with pytest.raises(ValueError, match="scheduled run is not a chat message"):
        journal.append(attrs.evolve(message(1), scheduled=scheduled), ("a",))
    assert path.read_bytes() == b""


def test_a_failed_sync_cuts_the_record_back_off_and_changes_nothing(
    journal: InboundJournal, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_one(journal, 1)
    before = path.read_bytes()

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    with pytest.raises(OSError, match="Input/output"):
        journal.append_many([arrive(2), arrive(3)])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert journal.backlog == 1
    entry = append_one(journal, 2)  # not a "duplicate"
    assert entry is not None and entry.id == "2"
    assert [e.id for e in reopen(path).pending] == ["1", "2"]


def test_a_write_that_cannot_be_cut_back_closes_the_journal(
    journal: InboundJournal, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    monkeypatch.setattr(os, "ftruncate", failing)
    with pytest.raises(OSError, match="Input/output") as raised:
        append_one(journal, 1)
    monkeypatch.undo()
    assert raised.value.__notes__ == [f"inbound journal {path} closed: a failed write stays in it"]
    with pytest.raises(InboundJournalError, match="is closed"):
        append_one(journal, 2)
    # The entry was never acknowledged, yet it is replayed (and so answered
    # once: the platform's redelivery of it is a duplicate).
    with InboundJournal.open(path).journal as again:
        assert append_one(again, 1) is None
        assert again.backlog == 1


def test_a_failed_automatic_compaction_still_records_the_marks(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with InboundJournal.open(path, compact_after=1).journal as journal:
        journal.append_many([arrive(1), arrive(2)])

        def crash(src: object, dst: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="No space left") as raised:
            journal.mark_done("1", "2")
        monkeypatch.undo()
        assert raised.value.__notes__ == [f"done marks recorded; compacting {path} failed"]
        assert journal.backlog == 0
        assert journal.mark_done("1") == 0  # the next trigger compacts
        assert [line["op"] for line in lines_of(path)] == ["head", "seen", "seen"]
    assert reopen(path).pending == ()


def test_a_closed_journal_refuses_calls(journal: InboundJournal) -> None:
    journal.close()
    journal.close()
    with pytest.raises(InboundJournalError, match="is closed"):
        journal.append(message(1), ("a",))


# --- damage -----------------------------------------------------------------------


def test_torn_tail_is_cut_and_the_journal_stays_appendable(path: Path) -> None:
    with InboundJournal.open(path).journal as journal:
        journal.append_many([arrive(1), arrive(2)])
    good = path.read_bytes()
    with path.open("ab") as f:
        f.write(b'{"op":"in","id":"3","dedup":["pos:10')
    opened = InboundJournal.open(path)
    assert opened.torn_bytes == len(b'{"op":"in","id":"3","dedup":["pos:10')
    assert opened.skipped == ()
    assert [e.id for e in opened.pending] == ["1", "2"]
    assert path.read_bytes() == good
    entry = append_one(opened.journal, 3)
    opened.journal.close()
    assert entry is not None and entry.id == "3"
    assert [e.id for e in reopen(path).pending] == ["1", "2", "3"]


def test_corrupt_middle_lines_are_skipped_counted_and_never_lose_good_entries(
    path: Path,
) -> None:
    with InboundJournal.open(path).journal as journal:
        journal.append_many([arrive(1), arrive(2)])
    good = path.read_bytes().splitlines(keepends=True)
    secret = "the-user's-private-words"
    bad_lines = [
        b"\x00\xff garbage " + secret.encode() + b"\n",
        json.dumps(
            {"op": "in", "id": "9", "dedup": ["z"], "pos": 1, "message": {"content": secret}}
        ).encode()
        + b"\n",
        b'{"op":"done","id":"77"}\n',
        b'{"op":"reboot"}\n',
        good[0],  # the same entry twice
        b"[" * 100_000 + b"\n",  # deeper than the JSON parser can recurse
        b'{"op":"done","id":"2","extra":1}\n',
        b"[]\n",
    ]
    path.write_bytes(good[0] + b"".join(bad_lines) + good[1] + b'{"op":"done","id":"1"}\n')
    opened = reopen(path)
    assert [e.id for e in opened.pending] == ["2"]
    assert [s.line for s in opened.skipped] == list(range(2, 2 + len(bad_lines)))
    reasons = [s.reason for s in opened.skipped]
    assert "done mark for entry 77, which is not pending" in reasons
    assert "unknown op 'reboot'" in reasons
    assert "entry id 1 is used twice" in reasons
    assert not any(secret in r for r in reasons)


# --- modes and refusals -------------------------------------------------------------


def test_directories_are_0700_and_the_file_0600_whatever_the_umask(path: Path) -> None:
    old = os.umask(0)
    try:
        InboundJournal.open(path).journal.close()
    finally:
        os.umask(old)
    assert mode_of(path.parent) == 0o700
    assert mode_of(path.parent.parent) == 0o700
    assert mode_of(path) == 0o600
    path.chmod(0o664)
    reopen(path)
    assert mode_of(path) == 0o600


def test_a_symlink_is_refused_by_name_and_its_target_untouched(path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path.parent.mkdir(parents=True)
    path.symlink_to(victim)
    with pytest.raises(
        InboundJournalError, match=f"{path} is a symbolic link, which is never followed; refused"
    ):
        InboundJournal.open(path)
    assert victim.read_text() == "precious\n" and mode_of(victim) == 0o644


def test_a_fifo_is_refused_without_blocking(path: Path) -> None:
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(
        InboundJournalError, match=rf"{path} is a FIFO \(named pipe\), not a regular file; refused"
    ):
        InboundJournal.open(path)


def test_a_directory_is_refused(path: Path) -> None:
    path.mkdir(parents=True)
    with pytest.raises(InboundJournalError, match=f"{path} is a directory; refused"):
        InboundJournal.open(path)


def test_bad_limits_are_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="keep_done"):
        InboundJournal.open(path, keep_done=-1)
    with pytest.raises(ValueError, match="compact_after"):
        InboundJournal.open(path, compact_after=0)
    assert not path.parent.exists()


# --- compaction ---------------------------------------------------------------------


def test_compaction_keeps_pending_entries_and_the_dedup_tail(path: Path) -> None:
    with InboundJournal.open(path, keep_done=2).journal as journal:
        journal.append_many([arrive(n) for n in range(1, 6)])
        journal.mark_done("1", "2", "4")
        journal.compact()
        assert journal.backlog == 2
    assert lines_of(path) == [
        {"op": "head", "next": 6, "pos": 1005},
        {"op": "seen", "id": "2", "dedup": in_line("2", 2)["dedup"]},
        {"op": "seen", "id": "4", "dedup": in_line("4", 4)["dedup"]},
        in_line("3", 3),
        in_line("5", 5),
    ]
    assert mode_of(path) == 0o600
    with InboundJournal.open(path, keep_done=2).journal as journal:
        assert [
            e.id if e else None for e in journal.append_many([arrive(n) for n in range(1, 6)])
        ] == [
            "6",
            None,
            None,
            None,
            None,
        ]
        journal.mark_done("3")  # a pending entry survives compaction with its id


def test_ids_and_position_outlive_their_entries(path: Path) -> None:
    with InboundJournal.open(path, keep_done=0).journal as journal:
        journal.append_many([arrive(1), arrive(2)])
        journal.mark_done("1", "2")
        journal.compact()
    assert lines_of(path) == [{"op": "head", "next": 3, "pos": 1002}]
    with InboundJournal.open(path, keep_done=0).journal as journal:
        assert journal.highest_position == 1002
        entry = journal.append(message(9), ("k",))
    assert entry is not None and entry.id == "3"


def test_compaction_runs_by_itself_once_enough_lines_are_dead(path: Path) -> None:
    with InboundJournal.open(path, compact_after=4).journal as journal:
        journal.append_many([arrive(n) for n in range(1, 4)])
        journal.mark_done("1")  # 4 lines, 3 live (+ a head to come): not yet
        assert len(lines_of(path)) == 4
        journal.mark_done("2", "3")  # 6 lines, 4 live
        assert len(lines_of(path)) == 6
        append_one(journal, 4)
        journal.mark_done("4")  # 8 lines, 5 live
        assert len(lines_of(path)) == 8
        journal.append_many([arrive(5), arrive(6)])
        journal.mark_done("5")  # 11 lines, 7 live: compacted
        assert [line["op"] for line in lines_of(path)] == ["head", *["seen"] * 5, "in"]
        append_one(journal, 7)  # appends reach the new file
    assert [e.id for e in reopen(path).pending] == ["6", "7"]


def test_a_failed_compaction_leaves_file_and_journal_intact(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = InboundJournal.open(path)
    journal = opened.journal
    journal.append_many([arrive(1), arrive(2)])
    journal.mark_done("1")
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        journal.compact()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["telegram.jsonl"]
    append_one(journal, 3)
    journal.close()
    assert [e.id for e in reopen(path).pending] == ["2", "3"]


def test_a_crash_between_temp_write_and_rename_keeps_the_old_file(path: Path) -> None:
    """A real process dies (os._exit) where the rename would happen: the
    synced temp file is left behind, the journal is untouched, and the next
    open removes the debris."""
    with InboundJournal.open(path).journal as journal:
        journal.append_many([arrive(1), arrive(2), arrive(3)])
        journal.mark_done("2")
    before = path.read_bytes()
    child = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from autobot.channels.inbound_journal import InboundJournal\n"
        "journal = InboundJournal.open(Path(sys.argv[1])).journal\n"
        "os.replace = lambda src, dst: os._exit(9)\n"
        "journal.compact()\n"
    )
    result = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True)
    assert result.returncode == 9, result.stderr
    assert path.read_bytes() == before
    debris = [p for p in path.parent.iterdir() if p.name != "telegram.jsonl"]
    assert len(debris) == 1 and debris[0].name.startswith(".telegram.jsonl.")
    assert [line["op"] for line in lines_of(debris[0])] == ["head", "seen", "in", "in"]
    opened = reopen(path)
    assert [e.id for e in opened.pending] == ["1", "3"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["telegram.jsonl"]


# --- trio wrapper -------------------------------------------------------------------


async def test_async_wrapper_with_real_threads_loses_and_repeats_nothing(path: Path) -> None:
    opened = InboundJournal.open(path)
    journal = AsyncInboundJournal(opened.journal, ThreadBatcher(threads=3, max_batch=2))
    results: list[str] = []

    async def deliver(n: int) -> None:
        entry = await journal.append(*attrs.astuple(arrive(n % 20), recurse=False))
        if entry is not None:
            results.append(entry.id)

    async with trio.open_nursery() as nursery:
        for n in range(40):  # every message delivered twice, concurrently
            nursery.start_soon(deliver, n)
    assert sorted(results, key=int) == [str(n) for n in range(1, 21)]
    assert journal.backlog == 20
    assert await journal.mark_done(*results[:5]) == 5
    assert journal.highest_position == 1019
    await journal.close()
    assert len(reopen(path).pending) == 15


async def test_async_wrapper_batches_and_propagates_errors(path: Path) -> None:
    journal = AsyncInboundJournal(InboundJournal.open(path).journal, run_inline)
    entries = await journal.append_many([arrive(1), arrive(1)])
    assert [e.id if e else None for e in entries] == ["1", None]
    with pytest.raises(ValueError, match="not an entry id"):
        await journal.mark_done("5")
    await journal.close()
