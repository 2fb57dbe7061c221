"""Attacks from inside a real bubblewrap sandbox on the kernel's shared state.

The finding these guard against: as root, a sandboxed command was host uid 0
and `/proc/sys/kernel/core_pattern` was writable, so one `exec` could make
the host kernel run a workspace script as root. Each attack runs twice: in a
pool exactly as a gateway builds it (as root in CI: the unprivileged
identity in its own user namespace), and, when the tests run as root, in a
sandbox started by an unprivileged account (the gateway of a non-root user).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trio

from autobot.sandbox.bwrap import BWRAP, bwrap_argv
from autobot.sandbox.policy import (
    WORKER_SCRIPT,
    SandboxPolicy,
    host_proc_entries,
    host_system_mounts,
)
from autobot.sandbox.seccomp import DENIED_SYSCALLS, architecture
from autobot.sandbox.spawn_files import SpawnFiles
from autobot.sandbox.testing import start_pool
from autobot.sandbox.userns import SandboxIdentity
from autobot.testing.logs import capture_logger

pytestmark = pytest.mark.skipif(shutil.which(BWRAP) is None, reason="bubblewrap missing")

UNPRIVILEGED = 65534

# Runs inside the sandbox; prints one JSON object with what each attack achieved.
ATTACK = r"""
import ctypes, errno, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
result = {"uid": os.getuid(), "status": {}}
for line in open("/proc/self/status"):
    name, _, value = line.partition(":")
    if name in ("CapEff", "CapPrm", "CapAmb", "NoNewPrivs", "Seccomp"):
        result["status"][name] = value.strip()
def write_back(path):
    try:
        with open(path) as f:
            value = f.read()
        with open(path, "w") as f:
            f.write(value)
        return "written"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
result["sysctl"] = {p: write_back(p) for p in (
    "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
    "/proc/sys/vm/overcommit_memory", "/proc/sys/net/ipv4/ip_forward",
    "/proc/sysrq-trigger")}
# the core_pattern chain, up to the write: a script in the workspace, its host path, the pipe
with open("/workspace/pwn.sh", "w") as f:
    f.write("#!/bin/sh\ncp /etc/shadow /workspace/\n")
host = [l.split()[3] for l in open("/proc/self/mountinfo") if l.split()[4] == "/workspace"][0]
try:
    with open("/proc/sys/kernel/core_pattern", "w") as f:
        f.write("|" + host + "/pwn.sh")
    result["core_pattern_chain"] = "written"
except OSError as exc:
    result["core_pattern_chain"] = errno.errorcode[exc.errno]
result["mountinfo"] = open("/proc/self/mountinfo").read()
def hidden(path):
    try:
        return os.listdir(path) if os.path.isdir(path) else len(open(path, "rb").read())
    except OSError as exc:
        return errno.errorcode[exc.errno]
result["hidden"] = {p: hidden(p) for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list",
                                           "/proc/acpi", "/proc/scsi") if os.path.exists(p)}
denied = {}
for name, nr in json.loads(os.environ.get("NUMBERS") or "{}").items():
    ctypes.set_errno(0)
    rc = libc.syscall(nr, 0, 0, 0, 0, 0, 0)
    denied[name] = errno.errorcode.get(ctypes.get_errno(), "0") if rc == -1 else "ALLOWED"
result["denied"] = denied
ctypes.set_errno(0)
result["unshare_user"] = libc.unshare(0x10000000)
result["personality_norandom"] = libc.personality(0x0040000)
t = threading.Thread(target=lambda: None); t.start(); t.join()
result["threads_work"] = True
result["subprocess_works"] = os.system("echo ok | cat > /dev/null") == 0
print(json.dumps(result))
"""


def _numbers() -> str:
    numbers = architecture().numbers
    return json.dumps({name: numbers[name] for name in DENIED_SYSCALLS if name in numbers})


def _check(result: dict, workspace: Path) -> None:
    assert result["uid"] != 0
    status = result["status"]
    assert {status[cap] for cap in ("CapEff", "CapPrm", "CapAmb")} == {"0000000000000000"}
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    for path, outcome in result["sysctl"].items():
        absent_here = not os.path.exists(path) and outcome == "ENOENT"
        assert outcome in ("EROFS", "EACCES", "EPERM") or absent_here, (path, outcome)
    assert result["core_pattern_chain"] in ("EROFS", "EACCES")
    assert not (workspace / "shadow").exists()
    # no host path of the installation: the worker and account files are copied in
    mountinfo = result["mountinfo"]
    assert str(WORKER_SCRIPT.parent) not in mountinfo
    assert "autobot-sandbox-" not in mountinfo
    assert str(Path(sys.prefix)) not in mountinfo
    assert result["hidden"]
    for path, value in result["hidden"].items():
        assert value in (0, [], "EACCES"), (path, value)
    assert result["denied"] and set(result["denied"].values()) == {"EPERM"}, result["denied"]
    assert result["unshare_user"] == -1
    assert result["personality_norandom"] == -1
    assert result["threads_work"] and result["subprocess_works"]


async def test_pool_sandbox_holds_against_kernel_attacks(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir(mode=0o700)
    before = await trio.Path("/proc/sys/kernel/core_pattern").read_text()
    logger, _ = capture_logger()
    async with trio.open_nursery() as nursery:
        pool = await start_pool(nursery, workspace, logger, size=1)
        async with pool.lease() as worker:
            (workspace / "attack.py").write_text(ATTACK)
            os.chmod(workspace / "attack.py", 0o644)
            outcome = await worker.exec(
                f"NUMBERS='{_numbers()}' python3 attack.py",
                cwd=".",
                time_limit=30,
                max_output=1_000_000,
            )
        nursery.cancel_scope.cancel("test done")
    assert outcome.exit_code == 0, outcome.stderr
    result = json.loads(outcome.stdout)
    _check(result, workspace)
    if os.geteuid() == 0:
        assert result["uid"] == UNPRIVILEGED
        assert (await trio.Path(workspace / "pwn.sh").stat()).st_uid == UNPRIVILEGED
    assert await trio.Path("/proc/sys/kernel/core_pattern").read_text() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another account")
def test_unprivileged_gateway_sandbox_holds() -> None:
    """bwrap started by an unprivileged account (its own unprivileged user namespace)."""
    with tempfile.TemporaryDirectory(prefix="autobot-unprivileged-") as base:
        os.chmod(base, 0o755)  # pytest's own tmp_path is root's alone
        _unprivileged_attack(Path(base) / "workspace")


def _unprivileged_attack(workspace: Path) -> None:
    workspace.mkdir()
    (workspace / "attack.py").write_text(ATTACK)
    os.chown(workspace, UNPRIVILEGED, UNPRIVILEGED)
    os.chown(workspace / "attack.py", UNPRIVILEGED, UNPRIVILEGED)
    system, etc = host_system_mounts()
    proc_readonly, proc_hidden = host_proc_entries()
    policy = SandboxPolicy(
        workspace=workspace,
        system=system,
        etc=etc,
        proc_readonly=proc_readonly,
        proc_hidden=proc_hidden,
    )
    files = SpawnFiles.build(None)
    with files.open_fds(with_worker=False) as fds:
        argv = bwrap_argv(
            policy,
            ["/usr/bin/env", f"NUMBERS={_numbers()}", "python3", "/workspace/attack.py"],
            fds=fds,
        )
        completed = subprocess.run(
            argv,
            pass_fds=fds.all(),
            user=UNPRIVILEGED,
            group=UNPRIVILEGED,
            extra_groups=[],
            capture_output=True,
            timeout=60,
            check=False,
        )
    if b"No permissions to create a new namespace" in completed.stderr:
        pytest.skip("this kernel refuses unprivileged user namespaces")
    assert completed.returncode == 0, completed.stderr.decode()
    result = json.loads(completed.stdout)
    _check(result, workspace)
    assert result["uid"] == UNPRIVILEGED


def test_identity_is_never_root() -> None:
    with pytest.raises(ValueError, match="not 0"):
        SandboxIdentity(0, 1000)
    with pytest.raises(ValueError, match="not 0"):
        SandboxIdentity(1000, 0)
