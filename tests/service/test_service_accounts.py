"""The dedicated account: how it is made, and which existing accounts are refused."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from autobot.service.accounts import (
    NO_LOGIN_SHELLS,
    Account,
    account_problems,
    find_account,
    no_login_shell,
    useradd_argv,
)
from autobot.service.unit import UnitError


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None, reason="needs root and useradd"
)
def test_useradd_makes_a_system_account_without_home_or_login(tmp_path: Path) -> None:
    # --prefix: the real useradd, applied to password files under tmp_path (not /etc)
    etc = tmp_path / "etc"
    etc.mkdir()
    for name in ("passwd", "group", "shadow", "gshadow"):
        (etc / name).touch()
    argv = useradd_argv("autobot-mybot", no_login_shell())
    done = subprocess.run(
        [argv[0], "--prefix", str(tmp_path), *argv[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    name, _, uid, gid, comment, home, shell = (etc / "passwd").read_text().strip().split(":")
    assert (name, comment, home, shell) == (
        "autobot-mybot",
        "autobot service",
        "/nonexistent",
        no_login_shell(),
    )
    assert 0 < int(uid) < 1000
    group_name, _, group_id, members = (etc / "group").read_text().strip().split(":")
    assert (group_name, group_id, members) == ("autobot-mybot", gid, "")


def test_useradd_argv_refuses_a_name_that_is_no_user_name() -> None:
    with pytest.raises(UnitError):
        useradd_argv("--badname", "/usr/sbin/nologin")


def test_the_no_login_shell_is_one_this_system_has() -> None:
    shell = no_login_shell()
    assert shell in NO_LOGIN_SHELLS
    assert os.access(shell, os.X_OK)


def test_accounts_are_read_from_the_system_databases() -> None:
    root = find_account("root")
    assert root is not None
    assert (root.uid, root.gid) == (0, 0)
    assert find_account("autobot-no-such-account") is None


def test_root_is_never_the_service_account() -> None:
    root = find_account("root")
    assert root is not None
    problems = account_problems(root)
    assert problems[0] == "root is root (uid 0, gid 0)"


@pytest.mark.parametrize(
    ("account", "problems"),
    [
        (
            Account(name="alice", uid=1000, gid=1000, shell="/bin/bash"),
            [
                "alice has uid 1000, outside the system range (1-999): it looks like someone's "
                "personal account",
                "alice has a login shell (/bin/bash)",
            ],
        ),
        (
            Account(
                name="autobot-x", uid=990, gid=990, shell="/usr/sbin/nologin", groups=("docker",)
            ),
            ["autobot-x belongs to other groups (docker): a dedicated account belongs to none"],
        ),
        (Account(name="autobot-x", uid=990, gid=990, shell="/usr/sbin/nologin"), []),
    ],
)
def test_only_a_dedicated_system_account_is_accepted(account: Account, problems: list[str]) -> None:
    assert account_problems(account) == problems
