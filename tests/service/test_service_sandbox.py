"""The sandbox still works under the unit's hardening (real bubblewrap, as root).

systemd does not run here (nor in CI), so the unit cannot be started. What
its settings do to the file system and to the process is emulated instead,
from the unit text itself: a root bubblewrap builds the service's mount
namespace (ProtectSystem=strict, ReadWritePaths=, ProtectHome=, PrivateTmp=,
PrivateDevices=, ProtectProc=, ProtectKernelModules=, ProtectHostname=), then
`setpriv` becomes an unprivileged account with NoNewPrivileges= and an empty
capability bounding set, and the gateway's own start-up gate runs: the
sandbox probe (`probe_sandbox`), which starts the worker in the full sandbox.
A setting the emulation does not know fails the test, so a new mount or
credential setting cannot slip into the unit untested.

The seccomp-based settings (SystemCallFilter=, RestrictAddressFamilies=,
RestrictNamespaces=) are checked against what the probe really does, traced
with strace: every system call, socket family and namespace it uses must be
allowed by the unit.

The same emulation with ProtectKernelTunables= or ProtectKernelLogs= added
shows why the unit leaves them out: the probe then fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import pytest
import trio

import autobot
from autobot.service.layout import hidden_by_unit
from autobot.service.unit import UnitSpec, render_unit

from .unitfile import parse_unit

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="building the service's namespace needs root"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

SERVICE_UID = 65534  # the account the emulated service runs as (needs no passwd entry)
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Settings that change neither the service's mounts nor its credentials.
NOT_EMULATED = {
    "Type", "User", "Group", "WorkingDirectory", "ExecStart", "KillMode", "TimeoutStopSec",
    "Restart", "RestartSec", "MemoryMax", "TasksMax", "RemoveIPC", "PrivateMounts",
    "ProtectControlGroups",  # /sys is read-only in the emulation as a whole
    # seccomp filters: checked against the strace of the probe below
    "SystemCallFilter", "SystemCallErrorNumber", "SystemCallArchitectures",
    "RestrictAddressFamilies", "RestrictNamespaces", "LockPersonality", "RestrictRealtime",
    "RestrictSUIDSGID", "ProtectClock",
}  # fmt: skip

PROBE = """
import sys
sys.path[:0] = {paths!r}
import trio
from autobot.config.schema import SandboxMode
from autobot.sandbox.probe import probe_sandbox
result = trio.run(probe_sandbox, SandboxMode.BUBBLEWRAP)
print(result.detail)
sys.exit(0 if result.available else 1)
"""


def _python_for_the_service() -> tuple[str, list[str]]:
    """An interpreter the unprivileged account can run, and the import paths it needs."""
    paths = [str(Path(autobot.__file__).parents[1]), str(Path(trio.__file__).parents[1])]
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        version = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        usable = version == str(sys.version_info[:2]) and not any(
            hidden_by_unit(Path(p)) for p in (candidate, *paths)
        )
        if usable and _reachable_by_others(candidate, *paths):
            return candidate, paths
    pytest.skip("no interpreter with autobot outside /root, /home and /tmp for another account")


def _reachable_by_others(*paths: str) -> bool:
    for path in paths:
        for directory in Path(path).parents:
            if not os.stat(directory).st_mode & 0o001:
                return False
    return True


def _bwrap_args(service: dict[str, str]) -> list[str]:
    """The outer bubblewrap that builds the service's mount namespace."""
    args = ["bwrap", "--die-with-parent"]
    assert service.pop("ProtectSystem") == "strict"
    args += ["--ro-bind", "/", "/"]
    if service.pop("ProtectHostname", "no") == "yes":
        args.append("--unshare-uts")
    assert service.pop("PrivateDevices") == "yes"
    args += ["--dev", "/dev", "--proc", "/proc"]
    assert service.pop("PrivateTmp") == "yes"
    args += ["--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/var/tmp"]
    for path in service.pop("ReadWritePaths").split():
        # parents bubblewrap creates in the private /tmp would be 0700: make them passable
        for parent in reversed(Path(path).parents):
            if Path("/tmp") in parent.parents:
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--bind", path, path]
    assert service.pop("ProtectHome") == "yes"
    for path in ("/home", "/root", "/run/user"):
        if os.path.isdir(path):
            args += ["--perms", "0000", "--tmpfs", path, "--remount-ro", path]
    if service.pop("ProtectKernelModules", "no") == "yes":
        for path in ("/usr/lib/modules", "/lib/modules"):
            if os.path.isdir(path) and not os.path.islink(path):
                args += ["--perms", "0000", "--tmpfs", path]
    return args


def _inner_script(service: dict[str, str]) -> str:
    """Shell run as root inside the outer bubblewrap: /proc as the unit leaves it."""
    hidepid = service.pop("ProtectProc", "default")
    options = "nosuid,nodev,noexec" + ("" if hidepid == "default" else f",hidepid={hidepid}")
    lines = ["set -e", "umount -l /proc", f"mount -t proc -o {options} proc /proc"]
    if service.pop("ProtectKernelTunables", "no") == "yes":
        for name in ("sys", "sysrq-trigger", "irq", "bus", "fs"):
            if os.path.exists(f"/proc/{name}"):
                lines += [f"mount --bind /proc/{name} /proc/{name}"]
                lines += [f"mount -o remount,bind,ro /proc/{name}"]
    if service.pop("ProtectKernelLogs", "no") == "yes":
        lines += ["mount --bind /dev/null /proc/kmsg"]
    return "\n".join(lines) + '\nexec "$@"\n'


def _credentials(service: dict[str, str]) -> list[str]:
    """setpriv: the service's account, no_new_privs, its capability bounding set."""
    argv = ["setpriv", f"--reuid={SERVICE_UID}", f"--regid={SERVICE_UID}", "--clear-groups"]
    if service.pop("NoNewPrivileges") == "yes":
        argv.append("--no-new-privs")
    if service.pop("CapabilityBoundingSet") == "" and service.pop("AmbientCapabilities") == "":
        argv += ["--bounding-set=-all", "--inh-caps=-all"]
    umask = service.pop("UMask")
    return [*argv, "sh", "-c", f'umask {umask}; exec "$@"', "umask"]


def run_as_the_unit(
    unit_text: str, command: list[str], extra: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `command` the way the unit would run the gateway (see the module docstring)."""
    service = {**parse_unit(unit_text)["Service"], **(extra or {})}
    outer = _bwrap_args(service)
    inner = _inner_script(service)
    credentials = _credentials(service)
    unknown = set(service) - NOT_EMULATED
    assert not unknown, f"settings the emulation does not know: {sorted(unknown)}"
    env = ["env", "-i", f"PATH={SERVICE_PATH}", "HOME=/nonexistent", "LANG=C.UTF-8"]
    argv = [*outer, "--", "sh", "-c", inner, "sh", *credentials, *env, *command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def unit_and_bot(tmp_path: Path) -> tuple[str, Path]:
    bot = tmp_path / "mybot"
    bot.mkdir()
    os.chown(bot, SERVICE_UID, SERVICE_UID)
    bot_dir = PurePosixPath(bot)
    text = render_unit(
        UnitSpec(
            name="autobot-mybot",
            user="autobot-mybot",
            bot_dir=bot_dir,
            config_file=bot_dir / "config.yml",
            python=PurePosixPath("/opt/autobot/bin/python"),
            writable=(bot_dir,),
            memory_max=1 << 31,
            tasks_max=644,
        )
    )
    return text, bot


def test_the_sandbox_probe_passes_under_the_units_hardening(
    unit_and_bot: tuple[str, Path],
) -> None:
    text, bot = unit_and_bot
    python, paths = _python_for_the_service()
    probe = [python, "-I", "-c", PROBE.format(paths=paths)]
    # what the emulation builds is what the unit says: checked from inside
    look = run_as_the_unit(
        text,
        ["sh", "-c", f"id -u; touch {bot}/w && echo rw; touch /usr/x || echo ro;"
         " ls /root || echo home-hidden; grep NoNewPrivs /proc/self/status;"
         " grep CapBnd /proc/self/status; grep ' /proc ' /proc/self/mountinfo"],
    )  # fmt: skip
    assert look.returncode == 0, look.stderr
    assert look.stdout.splitlines()[:3] == [str(SERVICE_UID), "rw", "ro"]
    assert "home-hidden" in look.stdout
    assert "NoNewPrivs:\t1" in look.stdout
    assert "CapBnd:\t0000000000000000" in look.stdout
    assert "hidepid=invisible" in look.stdout
    done = run_as_the_unit(text, probe)
    assert (done.returncode, done.stdout.strip()) == (0, "bubblewrap works"), done.stderr


@pytest.mark.parametrize("setting", ["ProtectKernelTunables", "ProtectKernelLogs"])
def test_the_settings_left_out_would_stop_the_sandbox(
    unit_and_bot: tuple[str, Path], setting: str
) -> None:
    text, _ = unit_and_bot
    python, paths = _python_for_the_service()
    probe = [python, "-I", "-c", PROBE.format(paths=paths)]
    done = run_as_the_unit(text, probe, extra={setting: "yes"})
    assert done.returncode == 1
    assert "Can't mount proc" in done.stdout + done.stderr


def _expand(group: str) -> set[str]:
    listing = subprocess.run(
        ["systemd-analyze", "syscall-filter", group],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        item = line.strip()
        if item.startswith("@"):
            names |= _expand(item)
        elif item and not item.startswith("#"):
            names.add(item)
    return names


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_the_units_seccomp_settings_allow_everything_the_sandbox_does(
    unit_and_bot: tuple[str, Path],
) -> None:
    text, bot = unit_and_bot
    python, paths = _python_for_the_service()
    trace = str(bot / "trace")
    probe = ["strace", "-f", "-qq", "-o", trace, python, "-I", "-c", PROBE.format(paths=paths)]
    done = run_as_the_unit(text, probe)
    assert done.returncode == 0, done.stderr
    calls = (bot / "trace").read_text()
    used = set(re.findall(r"^\d+ +([a-z0-9_]+)\(", calls, re.MULTILINE))
    assert {"mount", "pivot_root", "unshare", "capset", "prlimit64"} <= used  # it did its work
    service = parse_unit(text)["Service"]
    denied = set().union(*(_expand(g) for g in service["SystemCallFilter"][1:].split()))
    assert not used & denied
    families = set(re.findall(r"socket\((AF_[A-Z0-9]+)", calls))
    assert "AF_NETLINK" in families
    assert families <= set(service["RestrictAddressFamilies"].split())
    flags = set(re.findall(r"CLONE_NEW([A-Z]+)", calls))
    kinds = {"mnt" if flag == "NS" else flag.lower() for flag in flags}  # NEWNS: mount
    assert {"user", "mnt", "pid", "net"} <= kinds
    assert kinds <= set(service["RestrictNamespaces"].split())
