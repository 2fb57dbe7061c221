"""Handing the bot directory over never reaches outside it (real chown, as root)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from autobot.service import handover
from autobot.service.handover import hand_over, survey
from autobot.testing.unprivileged import as_account, python_for_account, racing

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")

UID, GID = 4242, 4243  # an account nobody else uses


def owner(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """A bot directory and, beside it, a root file it must never give away
    (mode 0666 so that any account may link it, whatever fs.protected_hardlinks)."""
    os.chmod(tmp_path, 0o755)
    bot = tmp_path / "bot"
    (bot / "workspace" / "deep").mkdir(parents=True)
    os.chmod(bot / "workspace", 0o750)
    (bot / "config.yml").write_text("x: 1\n")
    (bot / ".env").write_text("KEY=v\n")
    (bot / "workspace" / "deep" / "notes.md").write_text("hi\n")
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir(mode=0o755)
    secret.write_text("root:secret\n")
    os.chmod(secret, 0o666)
    return bot, secret


def test_everything_in_the_bot_directory_changes_owner_and_keeps_its_mode(
    layout: tuple[Path, Path],
) -> None:
    bot, _ = layout
    assert survey(bot) == handover.Survey(entries=6, refused=())
    done = hand_over(bot, UID, GID)
    assert (done.changed, done.skipped) == (6, ())
    for path in (bot, bot / ".env", bot / "workspace", bot / "workspace" / "deep" / "notes.md"):
        assert owner(path) == (UID, GID)
    assert mode(bot / "workspace") == 0o750  # locked while handed over, then given back
    assert hand_over(bot, UID, GID).changed == 0  # nothing left to change


def test_a_symlink_to_outside_is_left_and_its_target_untouched(layout: tuple[Path, Path]) -> None:
    bot, secret = layout
    link = bot / "workspace" / "link"
    link.symlink_to(secret)
    (bot / "workspace" / "dirlink").symlink_to(secret.parent)
    assert survey(bot).refused == ()
    hand_over(bot, UID, GID)
    assert owner(secret) == owner(secret.parent) == (0, 0)
    assert owner(link) == (0, 0)  # the link itself is not handed over either


def test_a_hard_link_to_a_file_outside_is_refused_and_never_handed_over(
    layout: tuple[Path, Path],
) -> None:
    bot, secret = layout
    os.link(secret, bot / "workspace" / "innocent.txt")
    assert survey(bot).refused == (
        "'workspace/innocent.txt': a hard link to a file with 2 names, some outside the "
        "bot directory",
    )
    done = hand_over(bot, UID, GID)  # even when asked to, it is skipped
    assert owner(secret) == (0, 0)
    assert done.skipped == ("'workspace/innocent.txt': it has names outside the bot directory",)


def test_hard_links_with_every_name_inside_are_handed_over(layout: tuple[Path, Path]) -> None:
    bot, _ = layout
    notes = bot / "workspace" / "deep" / "notes.md"
    os.link(notes, bot / "workspace" / "notes-again.md")
    assert survey(bot).refused == ()
    hand_over(bot, UID, GID)
    assert owner(notes) == (UID, GID)


def test_devices_and_fifos_are_refused_without_blocking(layout: tuple[Path, Path]) -> None:
    bot, _ = layout
    os.mkfifo(bot / "workspace" / "pipe")
    os.mknod(bot / "workspace" / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    assert sorted(survey(bot).refused) == [
        "'workspace/null': a device, FIFO or socket, which a bot directory does not hold",
        "'workspace/pipe': a device, FIFO or socket, which a bot directory does not hold",
    ]
    done = hand_over(bot, UID, GID)
    assert owner(bot / "workspace" / "pipe") == owner(bot / "workspace" / "null") == (0, 0)
    assert len(done.skipped) == 2


def test_names_are_shown_escaped(layout: tuple[Path, Path]) -> None:
    bot, _ = layout
    os.mkfifo(bot / "workspace" / "\x1b[2Jx")
    [refusal] = survey(bot).refused
    assert refusal.startswith("'workspace/\\x1b[2Jx'")


@pytest.mark.parametrize("mount", ["tmpfs", "bind"])
def test_anything_mounted_inside_is_refused_and_not_entered(tmp_path: Path, mount: str) -> None:
    bot = tmp_path / "bot"
    (bot / "workspace" / "mnt").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "f").write_text("x\n")
    command = {
        "tmpfs": f"mount -t tmpfs none {bot}/workspace/mnt && touch {bot}/workspace/mnt/f",
        "bind": f"mount --bind {elsewhere} {bot}/workspace/mnt",
    }[mount]
    script = (
        "from pathlib import Path; from autobot.service.handover import hand_over, survey; "
        f"bot = Path({str(bot)!r}); print(survey(bot).refused); "
        f"print(hand_over(bot, {UID}, {GID}).skipped)"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f'{command} && exec "$0" -c "$1"', sys.executable, script],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    refusal = "(\"'workspace/mnt': something is mounted there\",)"
    assert done.stdout.splitlines() == [refusal, refusal]
    assert owner(elsewhere / "f") == (0, 0)


def test_a_failure_midway_gives_the_directories_back_as_they_were(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, _ = layout
    os.chown(bot / "workspace", 1111, 1112)

    def broken(*args: object) -> int:
        raise OSError("disk on fire")

    monkeypatch.setattr(handover, "_give_files", broken)
    with pytest.raises(OSError, match="disk on fire"):
        hand_over(bot, UID, GID)
    assert (owner(bot / "workspace"), mode(bot / "workspace")) == ((1111, 1112), 0o750)
    assert owner(bot) == (0, 0)


SWAPPER = """
import os, sys
deep, outside = int(sys.argv[1]), int(sys.argv[2])  # inherited directory descriptors

def race_once():  # the directory is locked during each hand-over: a failed round is retried
    fd = os.open(".p", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=deep)
    os.close(fd)
    os.rename(".p", "notes.md", src_dir_fd=deep, dst_dir_fd=deep)
    os.link("shadow", ".h", src_dir_fd=outside, dst_dir_fd=deep)
    os.rename(".h", "notes.md", src_dir_fd=deep, dst_dir_fd=deep)
    os.symlink(sys.argv[3], ".s", dir_fd=deep)
    os.rename(".s", "notes.md", src_dir_fd=deep, dst_dir_fd=deep)
"""


def python_for_the_account() -> str:
    python = python_for_account(UID, GID)
    if python is None:
        pytest.skip("no interpreter another account may run")
    return python


ATTACK = """
import os, sys
deep, outside = int(sys.argv[1]), int(sys.argv[2])
for step in (
    lambda: os.link("shadow", "notes.md.new", src_dir_fd=outside, dst_dir_fd=deep),
    lambda: os.rename("notes.md", "gone", src_dir_fd=deep, dst_dir_fd=deep),
    lambda: os.unlink("notes.md", dir_fd=deep),
    lambda: os.chmod(deep, 0o777),
):
    try:
        step()
        print("done")
    except PermissionError:
        print("denied")
    except OSError:
        print("failed")
"""


def test_while_files_are_handed_over_no_other_account_can_change_a_name(
    layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the worst moment (the files step), the account that owned the
    workspace tries to link the outside file in, move and remove names, and
    open the directory up again: the lock refuses every one."""
    bot, secret = layout
    deep = bot / "workspace" / "deep"
    hand_over(bot, UID, GID)  # the account owns the workspace, as when its gateway ran
    deep_fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    outside_fd = os.open(secret.parent, os.O_RDONLY | os.O_DIRECTORY)
    python = python_for_the_account()
    seen: list[str] = []
    give_files = handover._give_files

    def at_the_worst_moment(*args: object) -> int:
        attack = subprocess.run(
            [python, "-c", ATTACK, str(deep_fd), str(outside_fd)],
            capture_output=True,
            text=True,
            preexec_fn=as_account(UID, GID),
            pass_fds=(deep_fd, outside_fd),
            check=True,
        )
        seen.extend(attack.stdout.split())
        return give_files(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(handover, "_give_files", at_the_worst_moment)
    try:
        hand_over(bot, UID, GID)
    finally:
        os.close(deep_fd)
        os.close(outside_fd)
    assert seen == ["denied"] * 4
    assert owner(secret) == (0, 0)
    assert owner(deep) == (UID, GID)  # and the account has its directory back
    assert mode(deep) == 0o755


def test_a_racing_swapper_never_gets_the_outside_file_handed_over(
    layout: tuple[Path, Path],
) -> None:
    """A process of the account itself (the model of a gateway that runs as it)
    swaps a workspace name between a plain file, a hard link to the outside
    file and a symlink to it, as fast as it can, while the hand-over runs
    again and again. Every link count read during such swaps can lie."""
    bot, secret = layout
    deep = bot / "workspace" / "deep"
    hand_over(bot, UID, GID)  # the account owns the workspace, as when its gateway ran
    python = python_for_the_account()
    deep_fd = os.open(deep, os.O_RDONLY | os.O_DIRECTORY)
    outside_fd = os.open(secret.parent, os.O_RDONLY | os.O_DIRECTORY)
    fds = (deep_fd, outside_fd)
    try:
        with racing(
            python, SWAPPER, *map(str, fds), str(secret), uid=UID, gid=GID, pass_fds=fds
        ) as swapper:
            for _ in range(2000):  # the unlocked design of this module lost within ~1000
                hand_over(bot, UID, GID)
                assert owner(secret) == (0, 0)
    finally:
        os.close(deep_fd)
        os.close(outside_fd)
    assert swapper.cycles  # it did swap between the hand-overs
    assert owner(secret) == (0, 0)
    assert mode(secret) == 0o666
