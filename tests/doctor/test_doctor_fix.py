"""`autobot doctor --fix`: the safe fixes, what it refuses, and attacks on the move."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from autobot.doctor.env_move import EnvMoveRefused, move_env_out_of_workspace
from autobot.doctor.fix import fix, fix_main
from autobot.testing.unprivileged import python_for_account, racing

from .botdir import ANTHROPIC_KEY, CLEAN_ENV, Bot, make_bot, probe_ok


def gone(path: Path) -> bool:
    return not os.path.lexists(path)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def run_fix(bot: Bot, tmp_path: Path, *, as_root: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await fix(
        bot.config,
        environ={},
        out=out,
        err=err,
        home=tmp_path / "home",
        probe=probe_ok,
        as_root=as_root,
    )
    assert ANTHROPIC_KEY not in out.getvalue() + err.getvalue()  # never a secret
    return code, out.getvalue(), err.getvalue()


def env_in_workspace(tmp_path: Path) -> Bot:
    """The bot's .env left at the top of the workspace, none beside config.yml."""
    bot = make_bot(tmp_path / "bot", env=None)
    (bot.workspace / ".env").write_text(CLEAN_ENV)
    return bot


async def test_loose_modes_are_tightened_and_the_doctor_runs_again(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot", env_mode=0o644, config_mode=0o640)
    (bot.root / "sessions").mkdir(mode=0o755)
    os.chmod(bot.root / "sessions", 0o755)
    code, out, err = await run_fix(bot, tmp_path)
    assert (code, err) == (0, "")
    assert out.splitlines()[:4] == [
        f"Fixed: mode of {bot.config} 0640 -> 0600",
        f"Fixed: mode of {bot.env} 0644 -> 0600",
        f"Fixed: mode of {bot.root / 'sessions'} 0755 -> 0700",
        "",
    ]
    assert out.splitlines()[4] == "The doctor after the fixes:"
    assert "env_permissions" not in out and ".env file has insecure permissions" not in out
    assert (mode(bot.env), mode(bot.config), mode(bot.root / "sessions")) == (0o600, 0o600, 0o700)


async def test_a_clean_bot_has_nothing_to_fix(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot")
    code, out, err = await run_fix(bot, tmp_path)
    assert (code, err) == (0, "")
    assert out.startswith("No safe fix to apply.\n\nThe doctor after the fixes:\n")
    assert out.endswith("Summary: 0 errors, 0 warnings, 3 info\n")


async def test_env_in_the_workspace_moves_beside_config(tmp_path: Path) -> None:
    bot = env_in_workspace(tmp_path)
    source = bot.workspace / ".env"
    os.chmod(source, 0o644)
    code, out, err = await run_fix(bot, tmp_path)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"Fixed: moved {source} to {bot.env} (mode 0600); rotate the secrets in it if the "
        "model may have read them"
    )
    assert bot.env.read_text() == CLEAN_ENV
    assert mode(bot.env) == 0o600
    assert gone(source)
    assert "Dotenv file inside the workspace" not in out
    assert list(bot.root.glob(".env.*.tmp")) == []


async def test_an_existing_env_beside_config_is_never_overwritten(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot")
    source = bot.workspace / ".env"
    source.write_text("OTHER=value-from-the-workspace\n")
    code, _, err = await run_fix(bot, tmp_path)
    assert code == 1  # the dotenv file in the workspace is still an error
    assert err == (
        f"Not fixed: {bot.env} exists: a secret file is never overwritten; compare the two by "
        f"hand and delete {source}\n"
    )
    assert bot.env.read_text() == CLEAN_ENV
    assert source.read_text() == "OTHER=value-from-the-workspace\n"


async def test_a_symlinked_env_in_the_workspace_is_not_followed(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot", env=None)
    outside = tmp_path / "etc-shadow"
    outside.write_text("root:$6$not-for-the-bot\n")
    (bot.workspace / ".env").symlink_to(outside)
    code, _, err = await run_fix(bot, tmp_path)
    assert code == 1
    assert err == (
        f"Not fixed: {bot.workspace / '.env'} is a symbolic link, which is never followed\n"
    )
    assert gone(bot.env)
    assert outside.read_text() == "root:$6$not-for-the-bot\n"


async def test_an_env_with_another_name_is_not_moved(tmp_path: Path) -> None:
    bot = env_in_workspace(tmp_path)
    os.link(bot.workspace / ".env", bot.workspace / "notes.txt")
    code, _, err = await run_fix(bot, tmp_path)
    assert code == 1
    assert err.startswith(
        f"Not fixed: {bot.workspace / '.env'} has 1 other name(s) (hard links) that would keep "
        "the secrets readable"
    )
    assert gone(bot.env)


async def test_a_missing_workspace_is_created_private(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot")
    bot.workspace.rmdir()
    code, out, _ = await run_fix(bot, tmp_path)
    assert code == 0
    assert f"Fixed: created the workspace {bot.workspace} (mode 0700)\n" in out
    assert mode(bot.workspace) == 0o700


async def test_a_symlinked_config_keeps_its_targets_mode(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot", config_mode=0o644)
    real = tmp_path / "config-elsewhere.yml"
    os.rename(bot.config, real)
    bot.config.symlink_to(real)
    code, out, _ = await run_fix(bot, tmp_path)
    assert code == 0
    assert mode(real) == 0o644  # never changed through the link: the doctor still says so
    assert "config.yml is readable by other users (mode 0644)" in out
    assert "Fixed: mode of" not in out


async def test_an_env_that_is_a_fifo_is_reported_and_does_not_hang(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot", env=None, config_mode=0o644)
    os.mkfifo(bot.env)
    code, out, err = await run_fix(bot, tmp_path)
    assert code == 1
    assert f"Fixed: mode of {bot.config} 0644 -> 0600\n" in out
    assert err == f"Not fixed: {bot.env}: {bot.env} is listed as a file but is not a regular file\n"


async def test_a_config_that_does_not_load_still_gets_its_modes_fixed(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot", raw_config="agents: [\n", env_mode=0o604)
    code, out, _ = await run_fix(bot, tmp_path)
    assert code == 1
    assert f"Fixed: mode of {bot.env} 0604 -> 0600\n" in out
    assert "config.yml cannot be loaded" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the new .env an owner needs root")
async def test_as_root_the_new_env_belongs_to_the_bot_directorys_owner(tmp_path: Path) -> None:
    bot = env_in_workspace(tmp_path)
    os.chown(bot.root, 4242, 4243)
    code, _, _ = await run_fix(bot, tmp_path, as_root=True)
    assert code == 0
    info = os.stat(bot.env)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4242, 4243, 0o600)


def test_fix_main_is_the_cli_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = make_bot(tmp_path / "bot", env_mode=0o640)
    monkeypatch.setattr("autobot.doctor.fix.probe_configured", probe_ok)
    out, err = io.StringIO(), io.StringIO()
    code = fix_main(
        bot.config,
        environ={},
        out=out,
        err=err,
        as_root=False,
        home=tmp_path / "home",
        probe=probe_ok,
    )
    assert (code, err.getvalue()) == (0, "")
    assert out.getvalue().startswith(f"Fixed: mode of {bot.env} 0640 -> 0600\n")


def test_the_bot_directory_inside_the_workspace_is_refused(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot", env=None)
    (bot.root / ".env").write_text(CLEAN_ENV)
    with pytest.raises(EnvMoveRefused, match="is inside the workspace"):
        move_env_out_of_workspace(tmp_path, bot.root, as_root=False)


SWAPPER = """
import os, sys
workspace, outside = int(sys.argv[1]), int(sys.argv[2])  # inherited directory descriptors

def race_once():
    fd = os.open("fresh", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600, dir_fd=workspace)
    os.write(fd, b"MODEL=own-file\\n")
    os.close(fd)
    os.rename("fresh", ".env", src_dir_fd=workspace, dst_dir_fd=workspace)
    os.symlink(sys.argv[3], "soft", dir_fd=workspace)
    os.rename("soft", ".env", src_dir_fd=workspace, dst_dir_fd=workspace)
    os.link("shadow", "hard", src_dir_fd=outside, dst_dir_fd=workspace)
    os.rename("hard", ".env", src_dir_fd=workspace, dst_dir_fd=workspace)
"""


ACCOUNT = 4242  # the workspace's owner, and the attacker: the model's account


@pytest.mark.skipif(os.geteuid() != 0, reason="the attacker runs as another account")
def test_a_racing_swapper_never_gets_an_outside_file_moved_in(tmp_path: Path) -> None:
    """A process of the workspace's owner swaps the workspace's .env between
    a file of its own, a symlink to root's secret and a hard link to it, as
    fast as it can, while root runs the move again and again: what lands
    beside config.yml is never the secret, and the secret is never touched.
    (The link count the move reads can say 1 for the hard link: the
    swapper's next rename takes a name away in between; the owner cannot lie.)"""
    os.chmod(tmp_path, 0o755)
    bot = make_bot(tmp_path / "bot", env=None)
    os.chown(bot.workspace, ACCOUNT, ACCOUNT)
    secret = tmp_path / "outside" / "shadow"
    secret.parent.mkdir(mode=0o755)
    secret.write_text("ROOT_PASSWORD=never-for-the-bot\n")
    os.chmod(secret, 0o666)  # linkable by the account whatever fs.protected_hardlinks says
    python = python_for_account(ACCOUNT, ACCOUNT)
    if python is None:
        pytest.skip("no interpreter another account may run")
    workspace_fd = os.open(bot.workspace, os.O_RDONLY | os.O_DIRECTORY)
    outside_fd = os.open(secret.parent, os.O_RDONLY | os.O_DIRECTORY)
    fds = (workspace_fd, outside_fd)
    moved = refused = 0
    try:
        with racing(
            python, SWAPPER, *map(str, fds), str(secret), uid=ACCOUNT, gid=ACCOUNT, pass_fds=fds
        ) as swapper:
            for _ in range(1000):
                try:
                    move_env_out_of_workspace(bot.workspace, bot.root, as_root=True)
                except (EnvMoveRefused, OSError):
                    refused += 1
                    continue
                moved += 1
                assert bot.env.read_text() == "MODEL=own-file\n"
                bot.env.unlink()
    finally:
        os.close(workspace_fd)
        os.close(outside_fd)
    assert swapper.cycles  # the swapper really swapped
    assert moved and refused  # and the move went both ways
    assert secret.read_text() == "ROOT_PASSWORD=never-for-the-bot\n"
    assert os.stat(secret).st_uid == 0
