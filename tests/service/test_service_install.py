"""`install` and `uninstall` end to end on a real bot directory, with the system's
tools (useradd, systemctl) and the account database answered by fakes."""

from __future__ import annotations

import io
import os
import pwd
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

from autobot.config.load import LoadedConfig
from autobot.service.accounts import Account
from autobot.service.commands import Completed
from autobot.service.install import ServiceHost, install, uninstall
from autobot.service.layout import Installation, LayoutRules
from autobot.service.unit import MARKER

from .bots import new_bot
from .unitfile import parse_unit

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install hands files over: root only")

UID = 990  # in the system range, like a real useradd --system


@attrs.define
class FakeSystem:
    """useradd and systemctl as recorded calls; the account database as a dict."""

    accounts: dict[str, Account] = attrs.field(factory=dict)
    calls: list[list[str]] = attrs.field(factory=list)
    failing: dict[str, Completed] = attrs.field(factory=dict)

    async def run(self, argv: Sequence[str]) -> Completed:
        self.calls.append(list(argv))
        key = " ".join(argv[:2])
        if key in self.failing:
            return self.failing[key]
        if argv[0] == "useradd":
            name = argv[-1]
            shell = argv[argv.index("--shell") + 1]
            self.accounts[name] = Account(name=name, uid=UID, gid=UID, shell=shell)
        return Completed(0, "")

    def find(self, name: str) -> Account | None:
        return self.accounts.get(name)


@attrs.frozen
class Setup:
    loaded: LoadedConfig
    system: FakeSystem
    host: ServiceHost
    unit_dir: Path

    @property
    def unit_file(self) -> Path:
        return self.unit_dir / "autobot-mybot.service"


def make_setup(tmp_path: Path, *, systemd: bool = False, euid: int = 0, **bot: str) -> Setup:
    loaded = new_bot(tmp_path / "srv", **bot)
    system = FakeSystem()
    unit_dir = tmp_path / "etc-systemd-system"
    unit_dir.mkdir()
    host = ServiceHost(
        euid=euid,
        installation=Installation(python=Path(sys.executable), paths=()),
        rules=LayoutRules(hidden={}, trusted=tmp_path),
        shell="/usr/sbin/nologin",
        unit_dir=unit_dir,
        systemd_running=lambda: systemd,
        run=system.run,
        find_account=system.find,
    )
    return Setup(loaded=loaded, system=system, host=host, unit_dir=unit_dir)


async def run_install(setup: Setup, user: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await install(setup.loaded, user, setup.host, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def run_uninstall(setup: Setup) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await uninstall(setup.loaded.path, setup.host, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def owners(root: Path) -> set[tuple[int, int]]:
    found = {(os.lstat(root).st_uid, os.lstat(root).st_gid)}
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            info = os.lstat(os.path.join(directory, name))
            found.add((info.st_uid, info.st_gid))
    return found


async def test_install_without_systemd_creates_hands_over_writes_and_says_what_to_run(
    tmp_path: Path,
) -> None:
    setup = make_setup(tmp_path)
    code, out, err = await run_install(setup)
    assert (code, err) == (0, "")
    [useradd] = setup.system.calls
    assert useradd[:2] == ["useradd", "--system"]
    assert useradd[-1] == "autobot-mybot"
    assert owners(setup.loaded.bot_dir) == {(UID, UID)}
    info = os.stat(setup.unit_file)
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0)
    unit = parse_unit(setup.unit_file.read_text())
    assert unit["Service"]["User"] == "autobot-mybot"
    assert unit["Service"]["ReadWritePaths"] == str(setup.loaded.bot_dir)
    assert out.splitlines() == [
        "Created the system account autobot-mybot (uid 990, no home, shell /usr/sbin/nologin).",
        f"Gave autobot-mybot the bot directory {setup.loaded.bot_dir} (14 of 14 entries changed "
        "owner; symbolic links are left as they are).",
        f"Wrote {setup.unit_file}.",
        "systemd is not running on this machine: nothing was started. Where it runs:",
        "  systemctl daemon-reload && systemctl enable --now autobot-mybot.service",
    ]


async def test_install_with_systemd_reloads_enables_and_starts(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, systemd=True)
    code, out, err = await run_install(setup, user="botuser")
    assert (code, err) == (0, "")
    assert [call[:3] for call in setup.system.calls] == [
        ["useradd", "--system", "--user-group"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now"],
    ]
    assert setup.system.calls[-1] == ["systemctl", "enable", "--now", "autobot-mybot.service"]
    assert parse_unit(setup.unit_file.read_text())["Service"]["User"] == "botuser"
    assert out.endswith(
        "Enabled and started autobot-mybot.service. Logs: journalctl -u autobot-mybot.service -f\n"
    )


async def test_a_failed_start_is_reported_with_where_to_look(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, systemd=True)
    setup.system.failing["systemctl enable"] = Completed(1, "Job failed. See journalctl.\n")
    code, _, err = await run_install(setup)
    assert code == 1
    assert err == (
        "autobot: systemctl enable --now autobot-mybot.service failed: Job failed. See journalctl.\n"
    )


async def test_install_is_for_root_only_and_changes_nothing_otherwise(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, euid=1000)
    before = owners(setup.loaded.bot_dir)
    code, out, err = await run_install(setup)
    assert (code, out) == (1, "")
    assert err.startswith("autobot: service install must run as root: ")
    assert "sudo" in err and "autobot service generate" in err
    assert setup.system.calls == []
    assert owners(setup.loaded.bot_dir) == before
    assert list(setup.unit_dir.iterdir()) == []


async def test_an_existing_account_that_is_not_dedicated_is_refused_before_any_change(
    tmp_path: Path,
) -> None:
    setup = make_setup(tmp_path)
    setup.system.accounts["alice"] = Account(name="alice", uid=1000, gid=1000, shell="/bin/bash")
    code, out, err = await run_install(setup, user="alice")
    assert (code, out) == (1, "")
    assert err == (
        "autobot: cannot install autobot-mybot.service:\n"
        "  - alice has uid 1000, outside the system range (1-999): it looks like someone's "
        "personal account\n"
        "  - alice has a login shell (/bin/bash)\n"
    )
    assert setup.system.calls == []
    assert owners(setup.loaded.bot_dir) == {(0, 0)}
    assert list(setup.unit_dir.iterdir()) == []


async def test_an_existing_dedicated_account_is_reused(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    setup.system.accounts["autobot-mybot"] = Account(
        name="autobot-mybot", uid=UID, gid=UID, shell="/usr/sbin/nologin"
    )
    code, out, _ = await run_install(setup)
    assert code == 0
    assert setup.system.calls == []
    assert out.startswith("Using the existing system account autobot-mybot (uid 990).\n")


async def test_a_unit_file_autobot_did_not_write_is_left_alone(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    setup.unit_file.write_text("[Service]\nExecStart=/usr/bin/something-else\n")
    code, _, err = await run_install(setup)
    assert code == 1
    assert err == (
        f"autobot: cannot install autobot-mybot.service: {setup.unit_file} exists and was not "
        "written by autobot: it is left alone\n"
    )
    assert setup.unit_file.read_text() == "[Service]\nExecStart=/usr/bin/something-else\n"
    assert setup.system.calls == []


async def test_a_symlink_in_the_units_place_is_never_followed(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    elsewhere = tmp_path / "elsewhere.service"
    elsewhere.write_text(MARKER + "\n")
    setup.unit_file.symlink_to(elsewhere)
    code, _, err = await run_install(setup)
    assert code == 1
    assert "is a symbolic link, which is never followed: it is left alone" in err
    assert elsewhere.read_text() == MARKER + "\n"


async def test_installing_again_replaces_autobots_own_unit(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    assert (await run_install(setup))[0] == 0
    code, out, err = await run_install(setup)
    assert (code, err) == (0, "")
    assert "Using the existing system account autobot-mybot" in out
    assert "(0 of 14 entries changed owner" in out


async def test_installing_again_under_systemd_stops_the_unit_for_the_hand_over(
    tmp_path: Path,
) -> None:
    setup = make_setup(tmp_path, systemd=True)
    assert (await run_install(setup))[0] == 0
    setup.system.calls.clear()
    code, out, err = await run_install(setup)
    assert (code, err) == (0, "")
    assert setup.system.calls == [
        ["systemctl", "stop", "autobot-mybot.service"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "autobot-mybot.service"],
    ]
    assert "Stopped autobot-mybot.service for the hand-over.\n" in out


async def test_a_hard_link_to_an_outside_file_stops_the_install_before_any_change(
    tmp_path: Path,
) -> None:
    setup = make_setup(tmp_path)
    secret = tmp_path / "shadow"
    secret.write_text("x\n")
    os.link(secret, setup.loaded.workspace / "notes.txt")
    code, out, err = await run_install(setup)
    assert (code, out) == (1, "")
    assert err == (
        f"autobot: will not hand {setup.loaded.bot_dir} over: 'workspace/notes.txt': a hard "
        "link to a file with 2 names, some outside the bot directory\n"
    )
    assert setup.system.calls == []
    assert os.stat(secret).st_uid == 0


async def test_state_outside_the_bot_directory_is_refused(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, workspace=str(tmp_path / "elsewhere" / "ws"))
    code, _, err = await run_install(setup)
    assert code == 1
    assert err == (
        f"autobot: cannot install autobot-mybot.service: {tmp_path / 'elsewhere' / 'ws'} "
        "(from config.yml) is outside the bot directory: keep the workspace, logs and cron "
        "store inside it, or write the unit yourself (autobot service generate)\n"
    )


async def test_a_failing_useradd_is_reported_and_nothing_is_handed_over(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    setup.system.failing["useradd --system"] = Completed(9, "useradd: user already exists\n")
    code, out, err = await run_install(setup)
    assert (code, out) == (1, "")
    assert err == (
        "autobot: cannot create the system account autobot-mybot: useradd: user already exists\n"
    )
    assert owners(setup.loaded.bot_dir) == {(0, 0)}


async def test_uninstall_stops_disables_removes_and_keeps_the_data(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, systemd=True)
    assert (await run_install(setup))[0] == 0
    setup.system.calls.clear()
    code, out, err = await run_uninstall(setup)
    assert (code, err) == (0, "")
    assert setup.system.calls == [
        ["systemctl", "disable", "--now", "autobot-mybot.service"],
        ["systemctl", "daemon-reload"],
    ]
    assert not setup.unit_file.exists()
    assert setup.loaded.env_file.read_text().endswith("\n")  # the data is all there
    assert owners(setup.loaded.bot_dir) == {(UID, UID)}
    assert out.splitlines() == [
        "Stopped and disabled autobot-mybot.service.",
        f"Removed {setup.unit_file}.",
        f"Kept: the bot directory {setup.loaded.bot_dir} with all its data (owned by {_name(UID)}) "
        "and the account autobot-mybot. Remove the account with `userdel autobot-mybot` once "
        "nothing else uses it, and give the directory to whoever should own it.",
    ]


async def test_uninstall_without_systemd_or_without_a_unit(tmp_path: Path) -> None:
    setup = make_setup(tmp_path)
    code, out, _ = await run_uninstall(setup)
    assert (code, out) == (
        0,
        f"No autobot-mybot.service in {setup.unit_dir}: nothing to uninstall.\n",
    )
    assert (await run_install(setup))[0] == 0
    setup.loaded.path.write_text("not: [valid")  # uninstall never needs the config to load
    code, out, _ = await run_uninstall(setup)
    assert code == 0
    assert out.splitlines()[:2] == [
        f"Removed {setup.unit_file}.",
        "systemd is not running on this machine: there was nothing to stop.",
    ]
    assert setup.system.calls == [setup.system.calls[0]]  # only the useradd of the install


async def test_uninstall_leaves_a_foreign_unit_and_refuses_non_root(tmp_path: Path) -> None:
    setup = make_setup(tmp_path, systemd=True)
    setup.unit_file.write_text("[Service]\n")
    code, _, err = await run_uninstall(setup)
    assert code == 1
    assert "was not written by autobot: it is left alone" in err
    assert setup.unit_file.read_text() == "[Service]\n"
    non_root = attrs.evolve(setup, host=attrs.evolve(setup.host, euid=1000))
    code, _, err = await run_uninstall(non_root)
    assert code == 1
    assert err.startswith("autobot: service uninstall must run as root")
    assert setup.system.calls == []
