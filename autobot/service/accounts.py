"""The dedicated system account a bot's service runs as.

`find_account` reads the password and group databases (NSS included);
`useradd_argv` is how a missing account is made: a system account with its
own group, no home directory and no login shell. `account_problems` says why
an existing account must not be used: root, a login shell, a uid outside the
system range (someone's personal account), or membership in any other group
(a dedicated account belongs to none: `docker`, `sudo` or `adm` would undo
the unit's confinement). Reads are blocking and quick.
"""

from __future__ import annotations

import grp
import os
import pwd

import attrs

from autobot.service.unit import check_user_name

NO_HOME = "/nonexistent"  # the Debian convention for accounts without a home
NO_LOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/false", "/bin/false")
# login.defs' SYS_UID_MAX default: system accounts are 1..999, people from 1000.
SYSTEM_UID_MAX = 999


@attrs.frozen(kw_only=True)
class Account:
    """An account as the databases describe it; `groups` are the names of its
    groups other than its primary one."""

    name: str
    uid: int
    gid: int
    shell: str
    groups: tuple[str, ...] = ()


def find_account(name: str) -> Account | None:
    """The account called `name`, or None if there is none."""
    try:
        entry = pwd.getpwnam(check_user_name(name))
    except KeyError:
        return None
    others = sorted(
        {_group_name(gid) for gid in os.getgrouplist(name, entry.pw_gid) if gid != entry.pw_gid}
    )
    return Account(
        name=entry.pw_name,
        uid=entry.pw_uid,
        gid=entry.pw_gid,
        shell=entry.pw_shell,
        groups=tuple(others),
    )


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def no_login_shell() -> str:
    """The first of `NO_LOGIN_SHELLS` this system has (`/usr/sbin/nologin` on Debian)."""
    for shell in NO_LOGIN_SHELLS:
        if os.access(shell, os.X_OK):
            return shell
    return NO_LOGIN_SHELLS[-1]


def useradd_argv(name: str, shell: str) -> list[str]:
    """The `useradd` command that creates the account `name`."""
    return [
        "useradd",
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        NO_HOME,
        "--shell",
        shell,
        "--comment",
        "autobot service",
        check_user_name(name),
    ]


def account_problems(account: Account) -> list[str]:
    """Why `account` must not run a bot's service (empty: it may)."""
    problems: list[str] = []
    if account.uid == 0 or account.gid == 0:
        problems.append(f"{account.name} is root (uid {account.uid}, gid {account.gid})")
    elif account.uid > SYSTEM_UID_MAX:
        problems.append(
            f"{account.name} has uid {account.uid}, outside the system range "
            f"(1-{SYSTEM_UID_MAX}): it looks like someone's personal account"
        )
    if account.shell not in NO_LOGIN_SHELLS:
        problems.append(f"{account.name} has a login shell ({account.shell})")
    if account.groups:
        problems.append(
            f"{account.name} belongs to other groups ({', '.join(account.groups)}): "
            "a dedicated account belongs to none"
        )
    return problems
