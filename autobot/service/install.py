"""`install` and `uninstall`: put a bot's unit in place, or take it away.

`install` (root only) checks everything before it changes anything: the
unit can be rendered, the host layout suits it (`layout`), no state path
lies outside the bot directory, an existing unit file is one autobot wrote,
the bot directory can be handed over (`handover.survey`), and an existing
account is a dedicated one (`accounts`). Then it creates the account if
missing, hands it the bot directory, writes the unit atomically (0600: a
temp file renamed into place) and, when systemd runs, reloads it and
enables and starts the unit; where systemd does not run it prints the
commands instead.

Installing again (a new autobot, a changed config) replaces autobot's own
unit; where systemd runs, the unit is stopped before the hand-over (which
locks the bot directory for a moment) and started again at the end. Stop
a gateway run by hand before installing.

`uninstall` (root only) stops and disables the unit (when systemd runs) and
removes the unit file, only if autobot wrote it. It never deletes the bot
directory, its data or the account, and says so.

Every step is one line on `out`; a refusal is `autobot: ...` on `err` and
exit code 1. The host (unit directory, systemd, the account database, the
system's tools) comes in as a `ServiceHost`, so tests run all of it.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TextIO

import attrs
import trio

from autobot.config.load import LoadedConfig
from autobot.sandbox.policy import ResourceLimits
from autobot.security.regular_file import FileRefused, open_regular
from autobot.service.accounts import Account, account_problems, find_account, useradd_argv
from autobot.service.commands import Runner, run_command
from autobot.service.handover import Survey, hand_over, survey
from autobot.service.layout import (
    Installation,
    LayoutRules,
    layout_problems,
    outside_state_paths,
    writable_paths,
)
from autobot.service.unit import (
    MARKER,
    UNIT_DIR,
    UnitError,
    UnitSpec,
    render_unit,
    resource_budget,
    unit_name_for,
)
from autobot.store.atomic import write_private_file

REFUSED = 1
# At most this much of an existing unit file is read (to find MARKER and User=).
UNIT_READ_LIMIT = 64 * 1024


def systemd_is_running() -> bool:
    """Whether systemd is this machine's init (what sd_booted(3) checks)."""
    return os.path.isdir("/run/systemd/system")


@attrs.frozen(kw_only=True)
class ServiceHost:
    """The machine as `install` and `uninstall` see it."""

    euid: int
    installation: Installation
    rules: LayoutRules
    shell: str
    unit_dir: Path = Path(UNIT_DIR)
    systemd_running: Callable[[], bool] = systemd_is_running
    run: Runner = run_command
    find_account: Callable[[str], Account | None] = find_account


def spec_for(loaded: LoadedConfig, user: str | None, installation: Installation) -> UnitSpec:
    """The unit of the bot `loaded`, run as `user` (default: named like the
    unit). Raises `UnitError` for a name or path a unit cannot hold."""
    bot_dir = PurePosixPath(loaded.bot_dir)
    name = unit_name_for(bot_dir)
    memory, tasks = resource_budget(loaded.config.tools.pool.size, ResourceLimits())
    return UnitSpec(
        name=name,
        user=user or name,
        bot_dir=bot_dir,
        config_file=PurePosixPath(loaded.path),
        python=PurePosixPath(installation.python),
        writable=writable_paths(loaded),
        memory_max=memory,
        tasks_max=tasks,
    )


class Refusal(Exception):
    """Install or uninstall will not go on: `what` it will not do, `problems` why."""

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        super().__init__(what)
        self.what = what
        self.problems = tuple(problems)

    def write(self, err: TextIO) -> int:
        """Say it on `err` (one line, or one line per problem); the exit code."""
        if len(self.problems) == 1:
            err.write(f"autobot: {self.what}: {self.problems[0]}\n")
        else:
            err.write(f"autobot: {self.what}:\n" + "".join(f"  - {p}\n" for p in self.problems))
        return REFUSED


def _needs_root(action: str) -> Refusal:
    return Refusal(
        f"service {action} must run as root",
        [
            "it changes system state (the service account, the bot directory's owner, "
            f"a unit in {UNIT_DIR}); run it with sudo, or print the unit with "
            "`autobot service generate` and install it yourself"
        ],
    )


def read_unit(path: Path) -> str | None:
    """The unit file at `path` (None when there is none). Raises `UnitError`
    when something else than a unit autobot wrote is there (a symbolic link
    included: it is never followed)."""
    try:
        fd = open_regular(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except FileRefused as exc:
        raise UnitError(f"{path} {exc}: it is left alone") from None
    except OSError as exc:
        raise UnitError(f"{path} exists but cannot be read: {exc.strerror or exc}") from exc
    try:
        text = os.read(fd, UNIT_READ_LIMIT).decode("utf-8", "replace")
    finally:
        os.close(fd)
    if not text.startswith(MARKER + "\n"):
        raise UnitError(f"{path} exists and was not written by autobot: it is left alone")
    return text


def unit_user(text: str) -> str | None:
    """The `User=` of a unit autobot wrote."""
    for line in text.splitlines():
        if line.startswith("User="):
            return line.removeprefix("User=")
    return None


@attrs.frozen(kw_only=True)
class PreparedInstall:
    """Everything `install` checked: the unit, where it goes, the hand-over
    plan, and the account when it exists already (None: to be created)."""

    spec: UnitSpec
    unit_path: Path
    plan: Survey
    account: Account | None
    reinstall: bool  # autobot's unit for this bot is there already


def prepare_install(loaded: LoadedConfig, user: str | None, host: ServiceHost) -> PreparedInstall:
    """Check everything `install` needs, changing nothing (blocking).
    Raises `Refusal` listing every problem found."""
    if host.euid != 0:
        raise _needs_root("install")
    try:
        spec = spec_for(loaded, user, host.installation)
    except UnitError as exc:
        raise Refusal("cannot install the service", [str(exc)]) from None
    problems = layout_problems(loaded, host.installation, host.rules)
    problems += [
        f"{path} (from config.yml) is outside the bot directory: keep the workspace, logs "
        "and cron store inside it, or write the unit yourself (autobot service generate)"
        for path in outside_state_paths(loaded)
    ]
    unit_path = host.unit_dir / spec.file_name
    existing = None
    try:
        existing = read_unit(unit_path)
    except UnitError as exc:
        problems.append(str(exc))
    account = host.find_account(spec.user)
    if account is not None:
        problems += account_problems(account)
    if problems:
        raise Refusal(f"cannot install {spec.file_name}", problems)
    plan = survey(loaded.bot_dir)
    if plan.refused:
        raise Refusal(f"will not hand {loaded.bot_dir} over", plan.refused)
    return PreparedInstall(
        spec=spec, unit_path=unit_path, plan=plan, account=account, reinstall=existing is not None
    )


async def _systemctl(host: ServiceHost, *args: str) -> None:
    done = await host.run(["systemctl", *args])
    if not done.ok:
        raise Refusal(f"systemctl {' '.join(args)} failed", [done.reason()])


async def _create_account(
    name: str, host: ServiceHost, fs: trio.CapacityLimiter, out: TextIO
) -> Account:
    done = await host.run(useradd_argv(name, host.shell))
    account = await trio.to_thread.run_sync(host.find_account, name, limiter=fs)
    if not done.ok or account is None:
        raise Refusal(f"cannot create the system account {name}", [done.reason()])
    out.write(
        f"Created the system account {account.name} (uid {account.uid}, no home, "
        f"shell {account.shell}).\n"
    )
    return account


async def install(
    loaded: LoadedConfig, user: str | None, host: ServiceHost, *, out: TextIO, err: TextIO
) -> int:
    """Install and start the unit of the bot `loaded` (see the module docstring)."""
    fs = trio.CapacityLimiter(1)  # one blocking file job at a time, for this install only
    try:
        ready = await trio.to_thread.run_sync(prepare_install, loaded, user, host, limiter=fs)
        account = ready.account
        unit = ready.spec.file_name
        if account is None:
            account = await _create_account(ready.spec.user, host, fs, out)
        else:
            out.write(f"Using the existing system account {account.name} (uid {account.uid}).\n")
        running = host.systemd_running()
        if ready.reinstall and running:  # the hand-over locks the directory for a moment
            await _systemctl(host, "stop", unit)
            out.write(f"Stopped {unit} for the hand-over.\n")
        given = await trio.to_thread.run_sync(
            hand_over, loaded.bot_dir, account.uid, account.gid, limiter=fs
        )
        out.write(
            f"Gave {account.name} the bot directory {loaded.bot_dir} ({given.changed} of "
            f"{ready.plan.entries} entries changed owner; symbolic links are left as they are).\n"
        )
        for skipped in given.skipped:
            out.write(f"  not handed over: {skipped}\n")
        text = render_unit(ready.spec)
        await trio.to_thread.run_sync(write_private_file, ready.unit_path, text, limiter=fs)
        out.write(f"Wrote {ready.unit_path}.\n")
        if not running:
            out.write(
                "systemd is not running on this machine: nothing was started. Where it runs:\n"
                f"  systemctl daemon-reload && systemctl enable --now {unit}\n"
            )
            return 0
        await _systemctl(host, "daemon-reload")
        await _systemctl(host, "enable", "--now", unit)
    except Refusal as refusal:
        return refusal.write(err)
    out.write(f"Enabled and started {unit}. Logs: journalctl -u {unit} -f\n")
    return 0


@attrs.frozen(kw_only=True)
class PreparedUninstall:
    """The unit `uninstall` removes (None: there is none) and the bot directory."""

    bot_dir: Path
    name: str
    unit_path: Path
    text: str | None


def prepare_uninstall(config_path: Path, host: ServiceHost) -> PreparedUninstall:
    """Find the unit of the bot whose config is `config_path` (which need not
    load), changing nothing (blocking). Raises `Refusal`."""
    if host.euid != 0:
        raise _needs_root("uninstall")
    bot_dir = Path(os.path.abspath(config_path)).parent.resolve()
    try:
        name = unit_name_for(PurePosixPath(bot_dir))
        unit_path = host.unit_dir / f"{name}.service"
        text = read_unit(unit_path)
    except UnitError as exc:
        raise Refusal("cannot uninstall the service", [str(exc)]) from None
    return PreparedUninstall(bot_dir=bot_dir, name=name, unit_path=unit_path, text=text)


def _remove(unit_path: Path, bot_dir: Path) -> str | None:
    """Remove the unit file; the name of the bot directory's owner (None
    when the directory is gone)."""
    unit_path.unlink()
    try:
        uid = os.stat(bot_dir).st_uid
    except FileNotFoundError:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


async def uninstall(config_path: Path, host: ServiceHost, *, out: TextIO, err: TextIO) -> int:
    """Stop, disable and remove the unit of the bot whose config is
    `config_path` (see the module docstring)."""
    fs = trio.CapacityLimiter(1)  # one blocking file job at a time, for this uninstall only
    try:
        found = await trio.to_thread.run_sync(prepare_uninstall, config_path, host, limiter=fs)
        if found.text is None:
            out.write(f"No {found.name}.service in {host.unit_dir}: nothing to uninstall.\n")
            return 0
        running = host.systemd_running()
        if running:
            await _systemctl(host, "disable", "--now", f"{found.name}.service")
        owner = await trio.to_thread.run_sync(_remove, found.unit_path, found.bot_dir, limiter=fs)
        if running:
            out.write(f"Stopped and disabled {found.name}.service.\n")
            await _systemctl(host, "daemon-reload")
    except Refusal as refusal:
        return refusal.write(err)
    out.write(f"Removed {found.unit_path}.\n")
    if not running:
        out.write("systemd is not running on this machine: there was nothing to stop.\n")
    user = unit_user(found.text) or "its account"
    kept = (
        ""
        if owner is None
        else f"the bot directory {found.bot_dir} with all its data (owned by {owner}) and "
    )
    out.write(
        f"Kept: {kept}the account {user}. Remove the account with `userdel {user}` once "
        "nothing else uses it, and give the directory to whoever should own it.\n"
    )
    return 0
