"""The bridge secret file: generated once, atomically, 0600; anything unsafe refused.

Attacks are real: a symlink planted where the file goes, a file others can
read, a FIFO that would hang a naive reader, a file owned by someone else,
and several threads racing to create it (all must end up with one key).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from autobot.channels.whatsapp.bridge_secret import BridgeSecretError, load_bridge_secret

KEY = bytes(range(32))


def secret_path(tmp_path: Path) -> Path:
    return tmp_path / "bot" / "state" / "whatsapp-bridge-secret"


def test_a_missing_file_is_created_private_and_then_kept(tmp_path: Path) -> None:
    path = secret_path(tmp_path)
    key = load_bridge_secret(path, create=True)
    assert len(key) == 32
    assert path.read_text() == key.hex() + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_bridge_secret(path, create=True) == key
    assert load_bridge_secret(path, create=False) == key
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_without_create_a_missing_file_is_an_error_with_the_fix(tmp_path: Path) -> None:
    path = secret_path(tmp_path)
    with pytest.raises(BridgeSecretError, match=r"does not exist.*openssl rand -hex 32"):
        load_bridge_secret(path, create=False)
    assert not path.exists()


def test_a_symlink_is_refused_even_to_a_good_secret(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text(KEY.hex())
    target.chmod(0o600)
    path = secret_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    for create in (True, False):
        with pytest.raises(BridgeSecretError, match="symbolic link"):
            load_bridge_secret(path, create=create)
    assert target.read_text() == KEY.hex()  # never replaced


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602])
def test_a_file_others_can_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = secret_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(KEY.hex() + "\n")
    path.chmod(mode)
    with pytest.raises(BridgeSecretError, match=rf"mode {mode:04o}.*chmod 600"):
        load_bridge_secret(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == mode  # not silently "fixed"


def test_a_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file away")
    path = secret_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(KEY.hex() + "\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(BridgeSecretError, match="belongs to another user"):
        load_bridge_secret(path, create=True)


def test_malformed_content_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = secret_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("hunter2-not-hex\n")
    path.chmod(0o600)
    with pytest.raises(BridgeSecretError) as caught:
        load_bridge_secret(path, create=True)
    assert "64 lowercase hex" in str(caught.value) and "hunter2" not in str(caught.value)


def test_a_fifo_or_directory_is_refused_without_hanging(tmp_path: Path) -> None:
    path = secret_path(tmp_path)
    path.parent.mkdir(parents=True)
    os.mkfifo(path, 0o600)
    with pytest.raises(BridgeSecretError, match="FIFO"):
        load_bridge_secret(path, create=True)
    path.unlink()
    path.mkdir(mode=0o700)
    with pytest.raises(BridgeSecretError, match="directory"):
        load_bridge_secret(path, create=True)


def test_racing_creators_all_get_the_one_key_that_was_written(tmp_path: Path) -> None:
    path = secret_path(tmp_path)
    racers = 8
    start = threading.Barrier(racers)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def race() -> None:
        start.wait()
        try:
            keys.append(load_bridge_secret(path, create=True))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(keys)) == 1 and len(keys) == racers
    assert path.read_text() == keys[0].hex() + "\n"
    assert [p.name for p in path.parent.iterdir()] == [path.name]
