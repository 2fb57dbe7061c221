"""The cron store: a 0600 file written atomically under a lock, refused (and
left byte-identical) when corrupt, newer, not a regular file or too large, and
real concurrent writers (separate processes, threads) losing nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autobot.cron.book import JobBook, Limits, add, record_run, remove, set_enabled
from autobot.cron.jobs import (
    AgentTurn,
    AtSchedule,
    Command,
    CronError,
    CronSchedule,
    EverySchedule,
    Job,
    JobNotFound,
    RunRecord,
    RunStatus,
)
from autobot.cron.store import (
    MAX_STORE_BYTES,
    CronStore,
    CronStoreError,
    decode_book,
    encode_book,
)

WORKER = Path(__file__).with_name("cron_store_worker.py")
NOW = 1_800_000_000.0
LIMITS = Limits(min_interval=60, max_jobs_per_owner=1000, default_tz="UTC")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cron.json"


@pytest.fixture
def store(path: Path) -> Iterator[CronStore]:
    with CronStore(path) as opened:
        yield opened


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def adding(owner: str, job_id: str) -> Callable[[JobBook], tuple[JobBook, Job]]:
    """A transaction adding an hourly job `job_id` for `owner`."""

    def change(book: JobBook) -> tuple[JobBook, Job]:
        return add(
            book,
            owner=owner,
            name=f"job {job_id}",
            schedule=EverySchedule(seconds=3600),
            action=AgentTurn(message=f"from {owner}"),
            now=NOW,
            limits=LIMITS,
            new_id=job_id,
        )

    return change


def full_book() -> JobBook:
    """A book with every kind of schedule, action and run record."""
    book, _ = add(
        JobBook(),
        owner="telegram:42",
        name="standup ☕",
        schedule=CronSchedule(expr="0 9 * * mon-fri", tz="Europe/Paris"),
        action=AgentTurn(message="Summarise my day.\nBe brief — «please»."),
        now=NOW,
        limits=LIMITS,
        new_id="0000000a",
    )
    book, _ = add(
        book,
        owner="slack:C1:thread",
        name="disk",
        schedule=EverySchedule(seconds=600),
        action=Command(command="df -h /\necho done"),
        now=NOW,
        limits=LIMITS,
        new_id="0000000b",
    )
    book, _ = add(
        book,
        owner="cli:me",
        name="once",
        schedule=AtSchedule(at=NOW + 0.5),
        action=AgentTurn(message="hi"),
        now=NOW,
        limits=LIMITS,
        new_id="0000000c",
    )
    record = RunRecord(at=NOW + 600, status=RunStatus.TIMEOUT, error="timed out", duration=60.25)
    book = record_run(book, "0000000b", record, NOW + 660, "UTC")
    book, _ = set_enabled(book, "telegram:42", "0000000a", False, NOW, LIMITS)
    return book


# --- basics --------------------------------------------------------------------------


def test_no_file_is_an_empty_book_and_reading_creates_nothing(store: CronStore, path: Path) -> None:
    assert store.load() == JobBook()
    assert store.stamp() is None
    assert list(path.parent.iterdir()) == []


def test_the_store_and_its_lock_are_0600_under_any_umask(
    store: CronStore, path: Path, permissive_umask: None
) -> None:
    store.transact(adding("telegram:1", "00000001"))
    assert mode_of(path) == 0o600
    assert mode_of(store.lock_path) == 0o600
    assert store.lock_path == path.with_name(".cron.json.lock")


def test_the_file_is_the_versioned_document(store: CronStore, path: Path) -> None:
    store.transact(adding("telegram:1", "00000001"))
    document = json.loads(path.read_bytes())
    assert document["version"] == 1
    assert [job["id"] for job in document["jobs"]] == ["00000001"]
    assert document["jobs"][0]["schedule"] == {"kind": "every", "seconds": 3600}


def test_a_round_trip_keeps_every_field(store: CronStore) -> None:
    book = full_book()
    store.transact(lambda _: (book, None))
    with CronStore(store.path) as fresh:
        assert fresh.load() == book
    assert decode_book(encode_book(book)) == book


def test_transact_returns_the_changes_result_and_the_next_load_sees_it(store: CronStore) -> None:
    job = store.transact(adding("telegram:1", "00000001"))
    assert job.id == "00000001"
    assert store.load().jobs == (job,)
    removed = store.transact(lambda book: remove(book, "telegram:1", "00000001"))
    assert removed == job
    assert store.load() == JobBook()


def test_an_unchanged_book_is_not_rewritten(store: CronStore, path: Path) -> None:
    store.transact(adding("telegram:1", "00000001"))
    before = os.stat(path)
    assert store.transact(lambda book: (book, "same")) == "same"
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_refused_change_writes_nothing(store: CronStore, path: Path) -> None:
    store.transact(adding("telegram:1", "00000001"))
    before = path.read_bytes()
    stamp = store.stamp()
    with pytest.raises(JobNotFound, match="no job '00000001'"):
        store.transact(lambda book: remove(book, "telegram:2", "00000001"))
    assert path.read_bytes() == before and store.stamp() == stamp


def test_a_book_too_large_is_refused_and_nothing_is_written(
    store: CronStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.transact(adding("telegram:1", "00000001"))
    before = path.read_bytes()
    monkeypatch.setattr("autobot.cron.store.MAX_STORE_BYTES", len(before) + 10)
    with pytest.raises(
        CronError, match=f"would exceed {len(before) + 10} bytes; remove jobs first"
    ):
        store.transact(adding("telegram:1", "00000002"))
    assert path.read_bytes() == before


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with CronStore(tmp_path / "gone" / "cron.json") as store:
        assert store.load() == JobBook()
        with pytest.raises(
            CronStoreError, match=r"cannot open the cron lock .*gone/\.cron\.json\.lock"
        ):
            store.transact(adding("telegram:1", "00000001"))


# --- stamps and other writers --------------------------------------------------------


def test_the_stamp_changes_with_every_write_and_only_then(store: CronStore, path: Path) -> None:
    assert store.stamp() is None
    store.transact(adding("telegram:1", "00000001"))
    first = store.stamp()
    assert first is not None
    assert store.stamp() == first
    store.load()
    assert store.stamp() == first
    store.transact(adding("telegram:1", "00000002"))
    assert store.stamp() not in (first, None)
    path.unlink()
    assert store.stamp() is None and store.load() == JobBook()


def test_another_process_write_changes_the_stamp_and_is_loaded(
    store: CronStore, path: Path
) -> None:
    store.transact(adding("telegram:1", "00000001"))
    before = store.stamp()
    assert [job.id for job in store.load().jobs] == ["00000001"]
    worker = start_worker(path, "add", "cli:other", "00000002")
    finish(worker)
    assert store.stamp() != before
    assert [job.id for job in store.load().jobs] == ["00000001", "00000002"]


def test_a_replacement_with_the_same_size_and_times_is_still_seen(
    store: CronStore, path: Path
) -> None:
    """The store holds the file it loaded open, so a replacement never gets
    its inode back: even a file of the same size and timestamps is new."""
    store.transact(adding("telegram:1", "00000001"))
    loaded = store.load()
    old = os.stat(path)
    other = path.read_bytes().replace(b"00000001", b"00000009")
    replacement = path.with_name("replacement")
    replacement.write_bytes(other)
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, path)
    assert os.stat(path).st_size == old.st_size
    assert [job.id for job in store.load().jobs] == ["00000009"]
    assert loaded.jobs[0].id == "00000001"


def test_an_edit_in_place_is_seen(store: CronStore, path: Path) -> None:
    store.transact(adding("telegram:1", "00000001"))
    store.load()
    before = store.stamp()
    data = path.read_bytes().replace(b'"job 00000001"', b'"job renamed by hand"')
    with open(path, "r+b") as handle:  # same inode
        handle.write(data)
        handle.truncate()
    assert store.stamp() != before
    assert store.load().jobs[0].name == "job renamed by hand"


# --- refused files -------------------------------------------------------------------

CORRUPT = {
    "empty": (b"", "it is not JSON"),
    "not json": (b"{not json", "it is not JSON"),
    "not utf-8": (b'{"version": 1, "jobs": ["\xff"]}', "it is not UTF-8"),
    "a list": (b"[]", "it has no version: it is not a cron store"),
    "no version": (b'{"jobs": []}', "it has no version"),
    "version 2": (
        b'{"version": 2, "jobs": []}',
        "its version is 2, and this autobot reads version 1",
    ),
    "version true": (b'{"version": true, "jobs": []}', "its version is True"),
    "unknown key": (b'{"version": 1, "jobs": [], "x": 1}', "the top level has unknown keys"),
    "duplicate key": (b'{"version": 1, "jobs": [], "jobs": []}', "key 'jobs' appears twice"),
    "nan": (b'{"version": 1, "jobs": [NaN]}', "NaN is not a valid number"),
    "deep": (
        b'{"version": 1, "jobs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested too deeply",
    ),
}


def job_document(**changes: object) -> dict[str, object]:
    document = json.loads(encode_book(full_book()))["jobs"][1]
    document.update(changes)
    return document


JOB_PROBLEMS = {
    "bad owner": ({"owner": "irc:1"}, r"jobs\[0\]: 'irc:1' is not an owner"),
    "bad id": ({"id": "../x"}, r"jobs\[0\]: '../x' is not a job id"),
    "bad expr": (
        {"schedule": {"kind": "cron", "expr": "61 * * * *", "tz": None}},
        r"jobs\[0\].schedule: '61 \* \* \* \*' is not a cron expression \(bad minute\)",
    ),
    "unknown zone": (
        {"schedule": {"kind": "cron", "expr": "@daily", "tz": "Mars/Base"}},
        "'Mars/Base' is not a known time zone",
    ),
    "unknown kind": (
        {"schedule": {"kind": "weekly"}},
        r"schedule.kind is not one of every, cron, at",
    ),
    "extra schedule key": (
        {"schedule": {"kind": "every", "seconds": 60, "tz": None}},
        r"jobs\[0\].schedule has unknown keys \['tz'\]",
    ),
    "bad action": ({"action": {"kind": "command", "command": ""}}, "command must not be empty"),
    "bad status": (
        {"last_run": {"at": 1, "status": "fine", "error": None, "duration": None}},
        "status is not one of ok, error, timeout, skipped",
    ),
    "negative runs": ({"runs": -1}, "runs must be a whole number"),
    "time as text": ({"created_at": "yesterday"}, "created_at must be a time"),
    "control character": ({"name": "a\u001b[2Jb"}, "name must not contain line breaks"),
}


def refused_and_untouched(store: CronStore, path: Path, data: bytes, reason: str) -> None:
    path.write_bytes(data)
    with pytest.raises(CronStoreError) as caught:
        store.load()
    message = str(caught.value)
    assert message.startswith(f"cron store {path} is unusable: ")
    assert reason in message, message
    assert message.endswith(
        "It was left untouched; fix or remove it (until then no scheduled job runs)"
    )
    with pytest.raises(CronStoreError):
        store.transact(adding("telegram:1", "00000001"))
    assert path.read_bytes() == data


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_or_newer_store_is_refused_and_left_byte_identical(
    store: CronStore, path: Path, name: str
) -> None:
    data, reason = CORRUPT[name]
    refused_and_untouched(store, path, data, reason)


@pytest.mark.parametrize("name", sorted(JOB_PROBLEMS))
def test_a_job_it_cannot_hold_is_refused_and_left_byte_identical(
    store: CronStore, path: Path, name: str
) -> None:
    changes, pattern = JOB_PROBLEMS[name]
    data = json.dumps({"version": 1, "jobs": [job_document(**changes)]}).encode()
    path.write_bytes(data)
    with pytest.raises(CronStoreError) as caught:
        store.load()
    assert re.search(pattern, str(caught.value)), str(caught.value)
    refused_and_untouched(store, path, data, "is unusable")


def test_missing_keys_and_duplicate_ids_are_refused(store: CronStore, path: Path) -> None:
    document = job_document()
    del document["skipped"]
    data = json.dumps({"version": 1, "jobs": [document]}).encode()
    refused_and_untouched(store, path, data, "jobs[0] has missing keys ['skipped']")
    twice = json.dumps({"version": 1, "jobs": [job_document(), job_document()]}).encode()
    refused_and_untouched(store, path, twice, "job id 0000000b appears twice")


def test_a_good_file_after_a_bad_one_is_read_again(store: CronStore, path: Path) -> None:
    path.write_bytes(b"{broken")
    with pytest.raises(CronStoreError):
        store.load()
    path.write_bytes(encode_book(full_book()))
    assert store.load() == full_book()


def test_a_symlinked_store_is_refused_and_its_target_untouched(
    store: CronStore, path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_bytes(encode_book(full_book()))
    before = target.read_bytes()
    path.symlink_to(target)
    with pytest.raises(CronStoreError, match="it is a symbolic link, which is never followed"):
        store.load()
    with pytest.raises(CronStoreError, match="symbolic link"):
        store.transact(adding("telegram:1", "00000001"))
    assert target.read_bytes() == before and path.is_symlink()


def test_a_fifo_store_is_refused_without_hanging(store: CronStore, path: Path) -> None:
    os.mkfifo(path)
    with pytest.raises(CronStoreError, match=r"it is a FIFO \(named pipe\), not a regular file"):
        store.load()
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


def test_a_directory_or_an_oversized_file_is_refused(store: CronStore, path: Path) -> None:
    path.mkdir()
    with pytest.raises(CronStoreError, match="it is a directory, not a regular file"):
        store.load()
    path.rmdir()
    with open(path, "wb") as handle:
        handle.truncate(MAX_STORE_BYTES + 1)  # sparse: no memory or disk spent
    with pytest.raises(CronStoreError, match=f"it is larger than {MAX_STORE_BYTES} bytes"):
        store.load()
    with pytest.raises(CronStoreError):
        store.transact(adding("telegram:1", "00000001"))
    assert os.stat(path).st_size == MAX_STORE_BYTES + 1


def test_a_lock_that_is_a_symlink_or_a_fifo_is_refused(
    store: CronStore, path: Path, tmp_path: Path
) -> None:
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"")
    store.lock_path.symlink_to(decoy)
    with pytest.raises(CronStoreError, match="cannot open the cron lock"):
        store.transact(adding("telegram:1", "00000001"))
    store.lock_path.unlink()
    os.mkfifo(store.lock_path)
    with pytest.raises(CronStoreError, match=r"it is a FIFO \(named pipe\), not a regular file"):
        store.transact(adding("telegram:1", "00000001"))
    assert not path.exists() and decoy.read_bytes() == b""


# --- crashes and concurrency ---------------------------------------------------------


def start_worker(path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(path), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(worker: subprocess.Popen[str], say: str | None = "go\n") -> None:
    _out, err = worker.communicate(say, timeout=60)
    assert worker.returncode == 0, err


def test_a_crash_in_the_middle_of_a_write_leaves_the_old_file(store: CronStore, path: Path) -> None:
    """A real process is killed (SIGKILL) with the new book written to its
    temp file, before the rename: the store is the old book, still usable."""
    store.transact(adding("telegram:1", "00000001"))
    before = path.read_bytes()
    worker = start_worker(path, "crash", "00000002")
    assert worker.stdout is not None
    assert worker.stdout.readline() == "renaming\n"
    temps = [
        p for p in path.parent.iterdir() if p.name.startswith(".cron.json.") and p.suffix == ".tmp"
    ]
    assert (
        len(temps) == 1 and b"00000002" in temps[0].read_bytes()
    )  # the new book, not yet in place
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=60)
    assert worker.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert [job.id for job in store.load().jobs] == ["00000001"]
    store.transact(adding("telegram:1", "00000003"))  # the lock died with the process
    assert [job.id for job in store.load().jobs] == ["00000001", "00000003"]


def test_two_processes_adding_at_once_lose_nothing(store: CronStore) -> None:
    ids_a = [f"a{n:07x}" for n in range(40)]
    ids_b = [f"b{n:07x}" for n in range(40)]
    workers = [
        start_worker(store.path, "add", "telegram:1", *ids_a),
        start_worker(store.path, "add", "cli:op", *ids_b),
    ]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        finish(worker, say=None)
    jobs = store.load().jobs
    assert sorted(job.id for job in jobs) == sorted(ids_a + ids_b)
    assert [job.id for job in jobs if job.owner == "telegram:1"] == ids_a  # each in its order


def test_two_stores_in_two_threads_adding_at_once_lose_nothing(path: Path) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(prefix: str, owner: str) -> None:
        try:
            with CronStore(path) as own:
                barrier.wait()
                for n in range(40):
                    own.transact(adding(owner, f"{prefix}{n:07x}"))
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=writer, args=("c", "zulip:1")),
        threading.Thread(target=writer, args=("d", "whatsapp:2")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with CronStore(path) as reader:
        jobs = reader.load().jobs
    assert len(jobs) == 80
    assert {job.owner for job in jobs} == {"zulip:1", "whatsapp:2"}
