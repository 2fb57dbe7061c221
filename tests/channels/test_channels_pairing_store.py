"""The pairing store: 0600 atomic file, reload on change, corrupt files refused and
left untouched, and real concurrent writers (separate processes) losing nothing."""

from __future__ import annotations

import functools
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autobot.channels.access import AccessPolicy, Chat, DmPolicy, Sender, decide_access
from autobot.channels.pairing import (
    CODE_ALPHABET,
    Approval,
    PairingBook,
    PairingError,
    PendingCode,
    approve_code,
    new_pairing_code,
    request_code,
    revoke_sender,
)
from autobot.channels.pairing_store import (
    MAX_STORE_BYTES,
    PairingStore,
    PairingStoreError,
    decode_book,
    encode_book,
)

WORKER = Path(__file__).with_name("pairing_race_worker.py")
AUTOBOT = [sys.executable, "-m", "autobot"]
NOW = time.time()  # the race workers read the real clock: codes must be live for them


def code_for(number: int) -> str:
    """A distinct pairing code for each number below 10**8."""
    return "".join(CODE_ALPHABET[10 + int(digit)] for digit in f"{number:08d}")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PairingStore]:
    with PairingStore(tmp_path) as opened:
        yield opened


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def issue(store: PairingStore, channel: str, sender: str, code: str, now: float = NOW) -> None:
    store.transact(
        functools.partial(
            request_code,
            channel=channel,
            sender_id=sender,
            username=None,
            now=now,
            draw_code=lambda: code,
        )
    )


def seeded(path: Path, pending: list[PendingCode]) -> None:
    path.write_bytes(encode_book(PairingBook(pending=tuple(pending))))


def test_no_file_is_an_empty_book_and_reading_creates_nothing(store: PairingStore) -> None:
    assert store.current() == PairingBook()
    assert sorted(os.listdir(store.bot_dir)) == []


def test_the_store_and_its_lock_are_0600_under_any_umask(
    store: PairingStore, permissive_umask: None
) -> None:
    issue(store, "telegram", "7", "ABCD2345")
    assert mode_of(store.path) == 0o600
    assert mode_of(store.lock_path) == 0o600
    assert sorted(os.listdir(store.bot_dir)) == [".pairing.lock", "pairing.json"]  # no temp debris


def test_a_round_trip_keeps_every_field(store: PairingStore) -> None:
    book = PairingBook(
        pending=(
            PendingCode(
                channel="telegram", sender_id="7", code="ABCD2345", created_at=NOW, username="bob_b"
            ),
        ),
        approved=(Approval(channel="slack", sender_id="U1", approved_at=NOW - 5),),
    )
    assert decode_book(encode_book(book)) == book


def test_another_writer_is_seen_without_a_restart(tmp_path: Path) -> None:
    with PairingStore(tmp_path) as gateway, PairingStore(tmp_path) as cli:
        issue(gateway, "telegram", "7", "ABCD2345")
        first = gateway.current()
        assert gateway.current() is first  # unchanged file: the cached book, no re-read
        cli.transact(functools.partial(approve_code, channel="telegram", code="abcd2345", now=NOW))
        seen = gateway.current()
        assert seen.is_approved("telegram", "7")
        cli.transact(functools.partial(revoke_sender, channel="telegram", sender_id="7", now=NOW))
        assert not gateway.current().is_approved("telegram", "7")


def test_an_edit_in_place_is_seen(store: PairingStore) -> None:
    issue(store, "telegram", "7", "ABCD2345")
    assert store.current().pending[0].code == "ABCD2345"
    inode = os.stat(store.path).st_ino
    edited = store.path.read_text().replace("ABCD2345", "WXYZ6789")
    with open(store.path, "r+") as handle:  # same inode, same size
        handle.write(edited)
    os.utime(store.path, ns=(1, 1))  # another mtime than the load saw, whatever the clock tick
    assert os.stat(store.path).st_ino == inode
    assert store.current().pending[0].code == "WXYZ6789"


def test_a_removed_file_is_an_empty_book(store: PairingStore) -> None:
    issue(store, "telegram", "7", "ABCD2345")
    assert store.current().pending
    store.path.unlink()
    assert store.current() == PairingBook()


def test_an_unchanged_book_is_not_rewritten(store: PairingStore) -> None:
    issue(store, "telegram", "7", "ABCD2345")
    before = os.stat(store.path)
    issue(store, "telegram", "7", "WXYZ6789")  # the live code is reused: nothing changes
    after = os.stat(store.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert store.current().pending[0].code == "ABCD2345"


def test_a_refused_change_writes_nothing_and_takes_no_lock(store: PairingStore) -> None:
    with pytest.raises(PairingError, match="no pending pairing code ABCD2345 on telegram"):
        store.transact(
            functools.partial(approve_code, channel="telegram", code="ABCD2345", now=NOW)
        )
    assert os.listdir(store.bot_dir) == []
    issue(store, "telegram", "7", "ABCD2345")
    before = store.path.read_bytes()
    with pytest.raises(PairingError, match="it was issued on telegram"):
        store.transact(functools.partial(approve_code, channel="slack", code="ABCD2345", now=NOW))
    with pytest.raises(PairingError, match="has expired"):
        store.transact(
            functools.partial(approve_code, channel="telegram", code="ABCD2345", now=NOW + 3600)
        )
    assert store.path.read_bytes() == before


def valid_document() -> dict[str, object]:
    return json.loads(
        encode_book(
            PairingBook(
                pending=(
                    PendingCode(channel="telegram", sender_id="7", code="ABCD2345", created_at=NOW),
                ),
                approved=(Approval(channel="telegram", sender_id="9", approved_at=NOW),),
            )
        )
    )


def corrupt(**changes: object) -> bytes:
    document = valid_document()
    document.update(changes)
    return json.dumps(document).encode()


def pending_with(**changes: object) -> bytes:
    document = valid_document()
    entry = dict(document["pending"][0])  # type: ignore[index]
    entry.update(changes)
    return corrupt(pending=[entry])


CORRUPTIONS: dict[str, tuple[bytes, str]] = {
    "not json": (b'{"version": 1, "pending": [', "it is not JSON"),
    "not utf-8": (b'{"version": 1, "pending": [], "approved": ["\xff"]}', "it is not UTF-8"),
    "empty file": (b"", "it is not JSON"),
    "a list": (b"[]", "the top level is not an object"),
    "other version": (corrupt(version=2), "version is 2, expected 1"),
    "boolean version": (corrupt(version=True), "version is True"),
    "unknown key": (corrupt(extra=1), "unknown keys ['extra']"),
    "missing key": (b'{"version": 1, "pending": []}', "missing keys ['approved']"),
    "duplicate key": (
        b'{"version": 1, "version": 1, "pending": [], "approved": []}',
        "'version' appears twice",
    ),
    "bad code": (pending_with(code="ABCD0000"), "pending[0].code is not a pairing code"),
    "lower-case code": (pending_with(code="abcd2345"), "pending[0].code is not a pairing code"),
    "NaN time": (pending_with(created_at=float("nan")), "NaN is not a valid number"),
    "far future": (pending_with(created_at=1e300), "pending[0].created_at is not a time"),
    "string time": (pending_with(created_at="now"), "pending[0].created_at is not a time"),
    "spaced id": (pending_with(sender_id="7 8"), "is not a sender id"),
    "escape in username": (pending_with(username="\u001b[2J"), "is not a username"),
    "bad channel": (pending_with(channel="Tele gram"), "is not a channel name"),
    "approved twice": (
        corrupt(approved=[valid_document()["approved"][0]] * 2),  # type: ignore[index]
        "'9' is approved twice on telegram",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_corrupt_store_is_refused_clearly_and_left_untouched(
    store: PairingStore, case: str
) -> None:
    data, detail = CORRUPTIONS[case]
    store.path.write_bytes(data)
    before = os.stat(store.path)
    with pytest.raises(PairingStoreError) as raised:
        store.current()
    message = str(raised.value)
    assert str(store.path) in message
    assert detail in message
    assert "left untouched" in message
    with pytest.raises(PairingStoreError):
        issue(store, "telegram", "8", "WXYZ6789")
    with pytest.raises(PairingStoreError):
        store.transact(functools.partial(revoke_sender, channel="telegram", sender_id="9", now=NOW))
    assert store.path.read_bytes() == data
    after = os.stat(store.path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_symlinked_store_is_refused_and_its_target_untouched(store: PairingStore) -> None:
    target = store.bot_dir / "elsewhere.json"
    target.write_bytes(encode_book(PairingBook()))
    store.path.symlink_to(target)
    with pytest.raises(PairingStoreError, match="it is a symlink"):
        store.current()
    with pytest.raises(PairingStoreError):
        issue(store, "telegram", "7", "ABCD2345")
    assert store.path.is_symlink()
    assert target.read_bytes() == encode_book(PairingBook())


def test_a_directory_or_an_oversized_file_is_refused(store: PairingStore) -> None:
    store.path.mkdir()
    with pytest.raises(PairingStoreError, match="not a regular file"):
        store.current()
    store.path.rmdir()
    store.path.write_bytes(b" " * (MAX_STORE_BYTES + 1))
    with pytest.raises(PairingStoreError, match="larger than"):
        store.current()


def test_a_missing_bot_directory_is_a_clear_error(tmp_path: Path) -> None:
    with PairingStore(tmp_path / "gone") as store:
        assert store.current() == PairingBook()
        with pytest.raises(PairingStoreError, match="cannot open the pairing lock"):
            issue(store, "telegram", "7", "ABCD2345")


def test_new_codes_are_well_formed_and_drawn_anew() -> None:
    drawn = {new_pairing_code() for _ in range(200)}
    assert len(drawn) > 190  # 32**8 possibilities: repeats would mean no randomness
    for code in drawn:
        assert len(code) == 8
        assert not set(code) & set("0O1I")


# --- real concurrency ----------------------------------------------------------------------


def start_worker(bot_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(bot_dir), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(worker: subprocess.Popen[str]) -> None:
    assert worker.wait(timeout=120) == 0


def seeded_codes(path: Path, channels: list[str]) -> list[str]:
    """Three live codes per channel; returns them as CHANNEL:CODE items."""
    pending = [
        PendingCode(channel=channel, sender_id=f"{i}{k}", code=code_for(i * 10 + k), created_at=NOW)
        for i, channel in enumerate(channels)
        for k in range(3)
    ]
    seeded(path, pending)
    return [f"{p.channel}:{p.code}" for p in pending]


def test_two_processes_approving_at_once_lose_nothing(store: PairingStore) -> None:
    items = seeded_codes(store.path, [f"c{i}" for i in range(20)])
    workers = [start_worker(store.bot_dir, "approve", *items[half::2]) for half in (0, 1)]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        finish(worker)
    book = store.current()
    assert book.pending == ()
    assert len(book.approved) == 60
    assert {(a.channel, a.sender_id) for a in book.approved} == {
        (f"c{i}", f"{i}{k}") for i in range(20) for k in range(3)
    }


def test_the_gateway_issuing_while_the_cli_approves_loses_nothing(store: PairingStore) -> None:
    approvals = seeded_codes(store.path, [f"a{i}" for i in range(20)])
    requests = [
        f"g{i}:{i * 10 + k}:{code_for(1000 + i * 10 + k)}" for i in range(20) for k in range(3)
    ]
    workers = [
        start_worker(store.bot_dir, "approve", *approvals),
        start_worker(store.bot_dir, "issue", *requests),
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        finish(worker)
    book = store.current()
    assert len(book.approved) == 60
    assert sorted((p.channel, p.sender_id) for p in book.pending) == sorted(
        tuple(item.split(":")[:2]) for item in requests
    )


def blocked_lock_waiters(lock_path: Path) -> int:
    inode = os.stat(lock_path).st_ino
    with open("/proc/locks") as locks:
        return sum(1 for line in locks if "->" in line and f":{inode} " in line)


def wait_until(condition: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll a kernel-visible condition (no timing assumption: only a bound)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {condition}"
        time.sleep(0.005)


def test_a_cli_approval_waits_for_a_gateway_transaction_and_both_survive(
    store: PairingStore,
) -> None:
    """A forced interleaving: the gateway has read the book and holds the lock;
    `autobot pairing approve` (the real CLI entry, another process) must wait
    for it instead of writing a book that the gateway then overwrites."""
    issue(store, "telegram", "7", "ABCD2345")
    (store.bot_dir / "config.yml").write_text("gateway:\n  port: 18790\n")
    gateway = start_worker(store.bot_dir, "hold")
    assert gateway.stdout is not None
    assert gateway.stdout.readline() == "inside\n"
    config = str(store.bot_dir / "config.yml")
    cli = subprocess.Popen(
        [*AUTOBOT, "--config", config, "pairing", "approve", "telegram", "abcd2345"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        "the CLI waits for the lock or has exited",
        lambda: blocked_lock_waiters(store.lock_path) == 1 or cli.poll() is not None,
    )
    assert cli.poll() is None, "the CLI wrote while the gateway held the lock"
    assert gateway.stdin is not None
    gateway.stdin.write("go\n")
    gateway.stdin.flush()
    finish(gateway)
    out, err = cli.communicate(timeout=120)
    assert (cli.returncode, err) == (0, "")
    assert out == "Approved 7 on telegram.\n"
    book = store.current()
    assert book.is_approved("zulip", "held")  # the worker's own approval
    assert book.is_approved("telegram", "7")
    assert book.pending == ()


def test_a_pairing_decision_commits_through_the_store(store: PairingStore) -> None:
    policy = AccessPolicy.from_settings("telegram", allow_from=(), dm_policy=DmPolicy.PAIRING)
    decide = functools.partial(
        decide_access, policy, Sender(id="7"), Chat(id="7"), now=NOW, draw_code=lambda: "ABCD2345"
    )
    snapshot = decide(store.current())
    assert snapshot.book is not None  # a code to issue: commit it
    committed = store.transact(decide)
    assert committed.code == "ABCD2345"
    assert store.current() == committed.book
    again = decide(store.current())
    assert (again.code, again.book) == ("ABCD2345", None)
