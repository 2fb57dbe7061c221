"""Handing the bot directory over never reaches outside it (real chown, as root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autobot.service.handover import hand_over, survey

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")

UID, GID = 4242, 4243  # an account nobody else uses


def owner(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A bot directory and, beside it, a root file the model must never get."""
    bot = tmp_path / "bot"
    (bot / "workspace" / "deep").mkdir(parents=True)
    (bot / "config.yml").write_text("x: 1\n")
    (bot / ".env").write_text("KEY=v\n")
    (bot / "workspace" / "deep" / "notes.md").write_text("hi\n")
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:secret\n")
    return bot, secret


def test_everything_in_the_bot_directory_changes_owner(layout: tuple[Path, Path]) -> None:
    bot, _ = layout
    plan = survey(bot)
    assert (plan.entries, plan.refused) == (6, ())
    done = hand_over(bot, UID, GID, plan)
    assert (done.changed, done.skipped) == (6, ())
    for path in (bot, bot / ".env", bot / "workspace" / "deep" / "notes.md"):
        assert owner(path) == (UID, GID)
    assert hand_over(bot, UID, GID, survey(bot)).changed == 0  # nothing left to change


def test_a_symlink_to_outside_is_left_and_its_target_untouched(layout: tuple[Path, Path]) -> None:
    bot, secret = layout
    link = bot / "workspace" / "link"
    link.symlink_to(secret)
    dir_link = bot / "workspace" / "dirlink"
    dir_link.symlink_to(secret.parent)
    plan = survey(bot)
    assert plan.refused == ()
    hand_over(bot, UID, GID, plan)
    assert owner(secret) == (0, 0)
    assert owner(secret.parent) == (0, 0)
    assert owner(link) == (0, 0)  # the link itself is not handed over either


def test_a_hard_link_to_a_file_outside_is_refused(layout: tuple[Path, Path]) -> None:
    bot, secret = layout
    os.link(secret, bot / "workspace" / "innocent.txt")
    plan = survey(bot)
    assert plan.refused == (
        "'workspace/innocent.txt': a hard link to a file with 2 names, some outside the "
        "bot directory",
    )
    # even if handed over anyway, that inode is skipped
    done = hand_over(bot, UID, GID, plan)
    assert owner(secret) == (0, 0)
    assert done.skipped == ("'workspace/innocent.txt': changed during the hand-over",)


def test_hard_links_with_every_name_inside_are_handed_over(layout: tuple[Path, Path]) -> None:
    bot, _ = layout
    notes = bot / "workspace" / "deep" / "notes.md"
    os.link(notes, bot / "workspace" / "notes-again.md")
    plan = survey(bot)
    assert plan.refused == ()
    hand_over(bot, UID, GID, plan)
    assert owner(notes) == (UID, GID)


def test_devices_fifos_and_sockets_are_refused_without_blocking(
    layout: tuple[Path, Path],
) -> None:
    bot, _ = layout
    os.mkfifo(bot / "workspace" / "pipe")
    os.mknod(bot / "workspace" / "null", 0o600 | 0o020000, os.makedev(1, 3))
    plan = survey(bot)
    assert sorted(plan.refused) == [
        "'workspace/null': a device, FIFO or socket, which a bot directory does not hold",
        "'workspace/pipe': a device, FIFO or socket, which a bot directory does not hold",
    ]


def test_names_are_shown_escaped(layout: tuple[Path, Path]) -> None:
    bot, _ = layout
    os.mkfifo(bot / "workspace" / "\x1b[2Jx")
    [refusal] = survey(bot).refused
    assert refusal.startswith("'workspace/\\x1b[2Jx'")


def test_another_file_system_mounted_inside_is_refused(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    (bot / "workspace" / "mnt").mkdir(parents=True)
    script = (
        "from pathlib import Path; from autobot.service.handover import survey; "
        f"print(survey(Path({str(bot)!r})).refused)"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs none {bot}/workspace/mnt && touch {bot}/workspace/mnt/f && "
         f'exec "$0" -c "$1"', sys.executable, script],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(\"'workspace/mnt': another file system is mounted there\",)"


def test_a_name_swapped_for_a_hard_link_to_outside_after_the_survey_is_skipped(
    layout: tuple[Path, Path],
) -> None:
    bot, secret = layout
    target = bot / "workspace" / "deep" / "notes.md"
    plan = survey(bot)
    swap = bot / "workspace" / "deep" / ".swap"
    os.link(secret, swap)
    os.rename(swap, target)  # the model replaces notes.md by a link to the secret
    done = hand_over(bot, UID, GID, plan)
    assert owner(secret) == (0, 0)
    assert done.skipped == ("'workspace/deep/notes.md': changed during the hand-over",)


SWAPPER = """
import os, sys
workspace, target, secret = sys.argv[1:]
plain, hard, soft = (os.path.join(workspace, name) for name in (".p", ".h", ".s"))
print("ready", flush=True)
while True:
    with open(plain, "w") as f:
        f.write("plain")
    os.rename(plain, target)
    os.link(secret, hard)
    os.rename(hard, target)
    os.symlink(secret, soft)
    os.rename(soft, target)
"""


def test_a_racing_swapper_never_gets_the_outside_file_handed_over(
    layout: tuple[Path, Path],
) -> None:
    """Another process swaps a workspace name between a plain file, a hard
    link to the outside file and a symlink to it, as fast as it can, while
    the hand-over runs again and again."""
    bot, secret = layout
    target = bot / "workspace" / "deep" / "notes.md"
    plan = survey(bot)
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(target.parent), str(target), str(secret)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        for _ in range(5000):
            hand_over(bot, UID, GID, plan)
            assert owner(secret) == (0, 0)
    finally:
        swapper.kill()
        swapper.wait()
    assert owner(secret) == (0, 0)
