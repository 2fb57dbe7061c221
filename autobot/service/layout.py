"""Whether the unit can work on this host: where the bot and autobot live (blocking I/O).

The unit hides `/home`, `/root`, `/run/user` (ProtectHome=) and gives the
service a private `/tmp` and `/var/tmp` (PrivateTmp=); it runs as a fresh
account that reads only what "others" may read, and gets the bot directory
handed over. So `layout_problems` refuses, each with one line saying why:

- an installation (interpreter, standard library, site-packages, the
  autobot package) hidden by the unit, unreadable by other accounts, or
  inside the bot directory (the service could rewrite its own code);
- a bot directory hidden by the unit, at the top of the file system, inside
  or containing someone's home directory, below a directory another account
  could write (it could move the bot directory aside and put its own in its
  place), or below one other accounts cannot enter;
- `config.yml` or `.env` that are symbolic links (only the bot directory is
  handed over: the account could not read a target elsewhere);
- a sandbox the account could not run: `sandbox: docker` (docker access is
  root in all but name), no `bwrap` on systemd's PATH, a setuid `bwrap`
  (NoNewPrivileges= stops it), unprivileged user namespaces turned off.

`outside_state_paths` lists the paths config.yml puts outside the bot
directory (the unit must let the service write them; `install` refuses them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

import attrs

import autobot
from autobot.config.load import LoadedConfig
from autobot.config.schema import SandboxMode
from autobot.security.paths import is_within
from autobot.service.accounts import NO_LOGIN_SHELLS

# What the unit hides from the service, and the setting that hides it.
HIDDEN_BY_UNIT: Mapping[str, str] = {
    "/home": "ProtectHome=",
    "/root": "ProtectHome=",
    "/run/user": "ProtectHome=",
    "/tmp": "PrivateTmp=",
    "/var/tmp": "PrivateTmp=",
}
# systemd's default PATH for system services: where the gateway will look for bwrap.
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USERNS_SWITCHES = (
    ("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone"),
    ("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces"),
)


@attrs.frozen
class Installation:
    """The autobot that runs the unit: `python` is the interpreter path the
    unit names (a venv's own, not resolved), `paths` what it reads at run
    time (resolved: the interpreter binary, the prefixes, the autobot package)."""

    python: Path
    paths: tuple[Path, ...]


@attrs.frozen
class Home:
    """An account's home directory (from the password database)."""

    user: str
    path: Path


@attrs.frozen(kw_only=True)
class LayoutRules:
    """What the checks compare against: `hidden` (prefix -> setting), the
    accounts' `homes`, `trusted` (from this directory up, the parents of the
    bot directory and of the installation are not judged: `/` by default,
    where they all are), the PATH the service
    finds bwrap on, and the kernel switches for unprivileged user namespaces
    (file, sysctl name)."""

    hidden: Mapping[str, str] = HIDDEN_BY_UNIT
    homes: tuple[Home, ...] = ()
    trusted: Path = Path("/")
    search_path: str = SERVICE_PATH
    userns_switches: tuple[tuple[str, str], ...] = USERNS_SWITCHES


def current_installation() -> Installation:
    """This interpreter and this autobot package."""
    package = Path(autobot.__file__).resolve().parent
    paths = [Path(os.path.realpath(sys.executable)), Path(sys.prefix), Path(sys.base_prefix)]
    return Installation(
        python=Path(os.path.abspath(sys.executable)),
        paths=tuple(dict.fromkeys([*(p.resolve() for p in paths), package])),
    )


def login_homes() -> tuple[Home, ...]:
    """The home directories of root and of every account with a login shell."""
    return tuple(
        Home(entry.pw_name, Path(entry.pw_dir))
        for entry in pwd.getpwall()
        if entry.pw_dir not in ("", "/")
        and (entry.pw_uid == 0 or entry.pw_shell not in NO_LOGIN_SHELLS)
    )


def hidden_by_unit(path: Path, hidden: Mapping[str, str] = HIDDEN_BY_UNIT) -> str | None:
    """The setting that hides `path` from the service, or None."""
    for prefix, setting in hidden.items():
        if path == Path(prefix) or Path(prefix) in path.parents:
            return setting
    return None


def outside_state_paths(loaded: LoadedConfig) -> tuple[Path, ...]:
    """The writable paths config.yml puts outside the bot directory: the
    workspace, the logs directory, the cron store's directory (it is replaced
    by rename and locked beside it)."""
    candidates = (loaded.workspace, loaded.logs_dir, loaded.cron_store.parent)
    outside = [path for path in candidates if not is_within(path, loaded.bot_dir)]
    return tuple(dict.fromkeys(outside))


def _mode(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _judged(parent: Path, trusted: Path) -> bool:
    return parent != trusted and parent not in trusted.parents


def _unreadable_by_others(path: Path, trusted: Path) -> str | None:
    """Why an account that is neither owner nor in the group cannot use
    `path` (enter its parents below `trusted`; read it, and enter or run it),
    or None."""
    for parent in reversed([p for p in path.parents if _judged(p, trusted)]):
        info = _mode(parent)
        if info is None or not info.st_mode & stat.S_IXOTH:
            return _denied(parent, info, "enter")
    info = _mode(path)
    if info is None or not info.st_mode & stat.S_IROTH:
        return _denied(path, info, "read")
    if (stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_IXUSR) and not (
        info.st_mode & stat.S_IXOTH
    ):
        return _denied(path, info, "enter" if stat.S_ISDIR(info.st_mode) else "run")
    return None


def _denied(path: Path, info: os.stat_result | None, what: str) -> str:
    if info is None:
        return f"{path} cannot be examined"
    return f"{path} is mode {stat.S_IMODE(info.st_mode):04o} (others cannot {what} it)"


def installation_problems(
    installation: Installation, bot_dir: Path, rules: LayoutRules
) -> list[str]:
    """Why the service could not run this installation (see the module docstring)."""
    hidden: dict[str, list[str]] = {}
    problems: list[str] = []
    for path in installation.paths:
        setting = hidden_by_unit(path, rules.hidden)
        if setting is not None:
            hidden.setdefault(setting, []).append(str(path))
        elif is_within(path, bot_dir):
            problems.append(
                f"autobot's installation {path} is inside the bot directory: handing the "
                "directory to the service would let it rewrite its own code"
            )
        elif (reason := _unreadable_by_others(path, rules.trusted)) is not None:
            problems.append(f"the service account could not use autobot's installation: {reason}")
    return [
        f"autobot's installation uses {', '.join(paths)}, which the unit's {setting} hides "
        "from the service: install autobot outside home directories and /tmp (e.g. "
        "python3 -m venv /opt/autobot && /opt/autobot/bin/pip install autobot) and run "
        "that autobot"
        for setting, paths in hidden.items()
    ] + problems


def _home_problems(bot_dir: Path, homes: Iterable[Home]) -> list[str]:
    problems: list[str] = []
    for home in homes:
        resolved = home.path.resolve()
        if is_within(bot_dir, resolved):
            problems.append(
                f"the bot directory is inside the home directory of {home.user} ({resolved}): "
                "the service would need a way into it; move the bot to e.g. /srv/autobot/NAME"
            )
        elif is_within(resolved, bot_dir):
            problems.append(
                f"the bot directory contains the home directory of {home.user} ({resolved}): "
                "handing it over would give that home away"
            )
    return problems


def _parent_problems(bot_dir: Path, trusted: Path) -> list[str]:
    problems: list[str] = []
    for parent in bot_dir.parents:
        if not _judged(parent, trusted):
            break
        info = _mode(parent)
        if info is None:
            problems.append(f"{parent} cannot be examined")
            continue
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != 0 or mode & (stat.S_IWGRP | stat.S_IWOTH):
            problems.append(
                f"{parent} (above the bot directory) is writable by an account other than "
                "root: it could move the bot directory aside and put its own in its place"
            )
        if not mode & stat.S_IXOTH:
            problems.append(
                f"{parent} is mode {mode:04o}: the service account could not reach the "
                "bot directory"
            )
    return problems


def bot_dir_problems(loaded: LoadedConfig, rules: LayoutRules) -> list[str]:
    """Why the bot directory cannot be handed to a service (see the module docstring)."""
    bot_dir = loaded.bot_dir
    setting = hidden_by_unit(bot_dir, rules.hidden)
    if setting is not None:
        return [
            f"the bot directory {bot_dir} is hidden from the service by the unit's {setting}: "
            "move it to e.g. /srv/autobot/NAME"
        ]
    if len(bot_dir.parts) < 3:
        return [f"the bot directory {bot_dir} is a top-level directory: use e.g. /srv/autobot/NAME"]
    problems = _home_problems(bot_dir, rules.homes) + _parent_problems(bot_dir, rules.trusted)
    for path in (loaded.path, loaded.env_file):
        if path.is_symlink():
            problems.append(
                f"{path} is a symbolic link: the service account gets only the bot "
                "directory, put the file itself there"
            )
    for path in outside_state_paths(loaded):
        setting = hidden_by_unit(path, rules.hidden)
        if setting is not None:
            problems.append(f"{path} (from config.yml) is hidden from the service by {setting}")
    return problems


def _userns_disabled(switches: Iterable[tuple[str, str]]) -> str | None:
    for path, name in switches:
        try:
            value = Path(path).read_text().strip()
        except OSError:
            continue  # this kernel has no such switch
        if value == "0":
            return name
    return None


def sandbox_problems(loaded: LoadedConfig, rules: LayoutRules) -> list[str]:
    """Why the configured sandbox could not run as an unprivileged service account."""
    mode = loaded.config.tools.sandbox
    if mode is SandboxMode.DOCKER:
        return [
            "tools.sandbox is docker: the service account would need the docker group, "
            "which is root in all but name; use bubblewrap (sandbox: auto or bubblewrap)"
        ]
    if mode is SandboxMode.NONE:
        return []
    bwrap = shutil.which("bwrap", path=rules.search_path)
    if bwrap is None:
        return [f"bwrap is not on the service's PATH ({rules.search_path}): install bubblewrap"]
    problems: list[str] = []
    if os.stat(bwrap).st_mode & stat.S_ISUID:
        problems.append(
            f"{bwrap} is setuid: under the unit's NoNewPrivileges=yes it cannot start; use a "
            "bubblewrap without the setuid bit (it then uses unprivileged user namespaces)"
        )
    disabled = _userns_disabled(rules.userns_switches)
    if disabled is not None:
        problems.append(
            f"unprivileged user namespaces are turned off ({disabled} = 0): the sandbox "
            "cannot start as an unprivileged account; set it to 1 (sysctl.d)"
        )
    return problems


def layout_problems(
    loaded: LoadedConfig, installation: Installation, rules: LayoutRules
) -> list[str]:
    """Every reason the unit would not work here; empty when it would."""
    return (
        installation_problems(installation, loaded.bot_dir, rules)
        + bot_dir_problems(loaded, rules)
        + sandbox_problems(loaded, rules)
    )


def writable_paths(loaded: LoadedConfig) -> tuple[PurePosixPath, ...]:
    """The unit's ReadWritePaths=: the bot directory, then `outside_state_paths`."""
    return tuple(PurePosixPath(p) for p in (loaded.bot_dir, *outside_state_paths(loaded)))
