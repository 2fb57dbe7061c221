"""tighten_permissions: loose modes fixed and reported, symlinks never followed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from autobot.store.permissions import PermissionFix, tighten_permissions, tightened_mode


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize(
    ("mode", "allowed", "expected"),
    [
        (0o644, 0o600, 0o600),
        (0o777, 0o600, 0o600),
        (0o600, 0o600, 0o600),
        (0o400, 0o600, 0o400),  # never loosened
        (0o755, 0o700, 0o700),
        (0o2770, 0o700, 0o700),  # setgid and group bits dropped
        (0o500, 0o700, 0o500),
    ],
)
def test_tightened_mode_table(mode: int, allowed: int, expected: int) -> None:
    assert tightened_mode(mode, allowed) == expected


def test_fixes_loose_files_and_dirs_and_reports_each(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("K=v")
    env.chmod(0o644)
    config = tmp_path / "config.yml"
    config.write_text("x: 1")
    config.chmod(0o600)
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    sessions.chmod(0o755)

    fixes = tighten_permissions([env, config], [sessions, tmp_path / "missing"])

    assert fixes == [
        PermissionFix(path=env, old_mode=0o644, new_mode=0o600),
        PermissionFix(path=sessions, old_mode=0o755, new_mode=0o700),
    ]
    assert mode_of(env) == 0o600
    assert mode_of(sessions) == 0o700
    assert tighten_permissions([env, config], [sessions]) == []  # idempotent


def test_symlinks_are_skipped_and_their_targets_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target_file = outside / "shared.txt"
    target_file.write_text("not ours")
    target_file.chmod(0o644)
    outside.chmod(0o755)
    bot = tmp_path / "bot"
    bot.mkdir(mode=0o700)
    (bot / ".env").symlink_to(target_file)
    (bot / "logs").symlink_to(outside)

    assert tighten_permissions([bot / ".env"], [bot / "logs"]) == []
    assert mode_of(target_file) == 0o644
    assert mode_of(outside) == 0o755


def test_wrong_kind_raises_and_changes_nothing(tmp_path: Path) -> None:
    loose = tmp_path / "a.json"
    loose.write_text("{}")
    loose.chmod(0o666)
    a_dir = tmp_path / "d"
    a_dir.mkdir()
    with pytest.raises(ValueError, match="not a regular file"):
        tighten_permissions([loose, a_dir], [])
    with pytest.raises(ValueError, match="not one"):
        tighten_permissions([loose], [loose])
    assert mode_of(loose) == 0o666
