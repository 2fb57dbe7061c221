"""SharedFile: a state file read without a lock (reloaded only when its stamp
changes), changed under an exclusive lock on a 0600 lock file, and refused in
the owner's words when it is not what autobot writes. The cron store and the
pairing store are both built on it."""

from __future__ import annotations

import fcntl
import functools
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autobot.channels.pairing import request_code
from autobot.channels.pairing_store import PairingStore, PairingStoreError
from autobot.cron.book import JobBook
from autobot.cron.store import CronStore, CronStoreError
from autobot.security.regular_file import FileRefused, FileTooLarge, SymlinkRefused
from autobot.store.atomic import write_private_file
from autobot.store.shared_file import SharedFile

LIMIT = 64
UNTOUCHED = "It was left untouched; fix or remove it (until then nothing is done)"


class Unusable(Exception):
    pass


def decode(data: bytes) -> str:
    if not data.startswith(b"v1 "):
        raise ValueError("it has no version")
    return data[3:].decode()


def shared_file(tmp_path: Path, **words: object) -> SharedFile[str]:
    return SharedFile(
        path=tmp_path / "state",
        lock_path=tmp_path / ".state.lock",
        limit=LIMIT,
        decode=decode,
        empty="",
        name="test",
        until_fixed="nothing is done",
        error=Unusable,
        **words,  # type: ignore[arg-type]
    )


@pytest.fixture
def file(tmp_path: Path) -> Iterator[SharedFile[str]]:
    opened = shared_file(tmp_path)
    yield opened
    opened.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_file_is_the_empty_value_and_nothing_is_created(
    file: SharedFile[str], tmp_path: Path
) -> None:
    assert file.stamp() is None
    assert file.load() == ""
    assert file.read() == ""
    assert list(tmp_path.iterdir()) == []


def test_the_loaded_value_is_kept_while_the_stamp_is_unchanged(file: SharedFile[str]) -> None:
    write_private_file(file.path, b"v1 one")
    first = file.load()
    assert first == "one"
    assert file.load() is first  # no second read
    assert file.read() is not first  # a transaction always reads the file again
    write_private_file(file.path, b"v1 two")
    assert file.load() == "two"


def test_a_replacement_with_the_same_size_and_times_is_seen(file: SharedFile[str]) -> None:
    """The loaded file is held open: a replacement never gets its inode back."""
    write_private_file(file.path, b"v1 one")
    assert file.load() == "one"
    old = os.stat(file.path)
    replacement = file.path.with_name("replacement")
    replacement.write_bytes(b"v1 two")
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, file.path)
    assert file.load() == "two"


def test_an_edit_in_place_is_seen(file: SharedFile[str]) -> None:
    write_private_file(file.path, b"v1 one")
    assert file.load() == "one"
    with open(file.path, "r+b") as handle:  # same inode, same size
        handle.write(b"v1 six")
    os.utime(file.path, ns=(1, 1))
    assert file.load() == "six"


def test_close_releases_the_held_file_and_the_file_stays_usable(file: SharedFile[str]) -> None:
    write_private_file(file.path, b"v1 one")
    before = open_fds()
    file.load()
    assert open_fds() == before + 1
    file.load()
    write_private_file(file.path, b"v1 two")
    file.load()
    assert open_fds() == before + 1  # the older version was released
    file.close()
    assert open_fds() == before
    assert file.load() == "two"
    file.path.unlink()
    assert file.load() == ""
    assert open_fds() == before


def unusable(file: SharedFile[str], problem: str) -> str:
    return f"test store {file.path} is unusable: {problem}. {UNTOUCHED}"


def test_a_refused_file_is_named_with_the_problem(file: SharedFile[str], tmp_path: Path) -> None:
    file.path.write_bytes(b"v2 one")
    with pytest.raises(Unusable) as raised:
        file.load()
    assert str(raised.value) == unusable(file, "it has no version")
    file.path.unlink()
    file.path.mkdir()
    with pytest.raises(Unusable) as raised:
        file.read()
    assert str(raised.value) == unusable(file, "it is a directory, not a regular file")
    file.path.rmdir()
    os.mkfifo(file.path)
    with pytest.raises(Unusable) as raised:
        file.load()  # never waits for a writer
    assert str(raised.value) == unusable(file, "it is a FIFO (named pipe), not a regular file")
    file.path.unlink()
    file.path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Unusable) as raised:
        file.load()
    assert str(raised.value) == unusable(file, "it is a symbolic link, which is never followed")
    file.path.unlink()
    file.path.write_bytes(b"v1 " + b"x" * LIMIT)
    with pytest.raises(Unusable) as raised:
        file.load()
    assert str(raised.value) == unusable(file, f"it is larger than {LIMIT} bytes")


def test_the_owner_can_word_refused_files_itself(tmp_path: Path) -> None:
    seen: list[FileRefused] = []

    def refusal(refused: FileRefused) -> str:
        seen.append(refused)
        return "it is refused"

    file = shared_file(tmp_path, refusal=refusal)
    file.path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Unusable, match="is unusable: it is refused"):
        file.load()
    file.path.unlink()
    file.path.write_bytes(b"x" * (LIMIT + 1))
    with pytest.raises(Unusable, match="is unusable: it is refused"):
        file.load()
    assert [type(refused) for refused in seen] == [SymlinkRefused, FileTooLarge]


def test_the_lock_is_a_0600_file_held_exclusively(file: SharedFile[str], tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        with file.locked():
            assert stat.S_IMODE(os.lstat(file.lock_path).st_mode) == 0o600
            other = os.open(file.lock_path, os.O_RDWR)
            try:
                with pytest.raises(BlockingIOError):  # a second holder would wait
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(other)
    finally:
        os.umask(old_umask)
    other = os.open(file.lock_path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released with the block
    finally:
        os.close(other)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".state.lock"]


def test_a_lock_that_is_a_symlink_or_a_fifo_is_refused(
    file: SharedFile[str], tmp_path: Path
) -> None:
    decoy = tmp_path / "decoy"
    decoy.write_bytes(b"")
    file.lock_path.symlink_to(decoy)
    with pytest.raises(Unusable) as raised, file.locked():
        pass
    assert str(raised.value) == (
        f"cannot open the test lock {file.lock_path}: Too many levels of symbolic links"
    )
    file.lock_path.unlink()
    os.mkfifo(file.lock_path)
    with pytest.raises(Unusable) as raised, file.locked():
        pass
    assert str(raised.value) == (
        f"cannot use the test lock {file.lock_path}: it is a FIFO (named pipe), not a regular file"
    )


# --- both stores -------------------------------------------------------------------------


Store = CronStore | PairingStore
StoreMaker = Callable[[Path], tuple[Store, type[Exception]]]


def cron_store(tmp_path: Path) -> tuple[Store, type[Exception]]:
    return CronStore(tmp_path / "cron.json"), CronStoreError


def pairing_store(tmp_path: Path) -> tuple[Store, type[Exception]]:
    return PairingStore(tmp_path), PairingStoreError


def change(store: Store) -> None:
    if isinstance(store, CronStore):
        store.transact(lambda book: (JobBook(), None))
        return
    store.transact(
        functools.partial(
            request_code,
            channel="telegram",
            sender_id="7",
            username=None,
            now=1.0,
            draw_code=lambda: "ABCD2345",
        )
    )


@pytest.mark.parametrize("make", [cron_store, pairing_store])
def test_both_stores_refuse_a_lock_that_is_not_a_regular_file(
    make: StoreMaker, tmp_path: Path
) -> None:
    store, error = make(tmp_path)
    os.mkfifo(store.lock_path)
    with pytest.raises(error, match=r"lock .* is a FIFO \(named pipe\), not a regular file"):
        change(store)
    assert not store.path.exists()


@pytest.mark.parametrize("make", [cron_store, pairing_store])
def test_both_stores_refuse_a_file_nested_too_deeply(make: StoreMaker, tmp_path: Path) -> None:
    store, error = make(tmp_path)
    data = b"[" * 100_000 + b"]" * 100_000
    store.path.write_bytes(data)
    with pytest.raises(error, match=r"it is nested too deeply to be a (cron|pairing) store"):
        change(store)
    assert store.path.read_bytes() == data
