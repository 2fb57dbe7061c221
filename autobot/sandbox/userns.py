"""The user namespace a root gateway's sandboxes run in (see `SandboxIdentity`).

When autobot runs as root, bubblewrap alone would map the sandbox to host
uid 0 (capabilities dropped, but still the owner of every root-owned file
the kernel checks by uid: `/proc/sys/kernel/core_pattern` was writable).
Instead the pool creates one user namespace that maps exactly two ids:

    0 -> host 0        bubblewrap's own set-up (mounts, reaching a root-owned
                       bot directory); it drops every capability but
                       CAP_SETUID/CAP_SETGID before the worker starts
    S -> host S        the unprivileged account everything sandboxed runs as

and passes it to each bwrap with `--userns`. The worker switches to S as
its first act (`worker_main.drop_to`), which clears those two capabilities
too, and refuses to serve if any uid, gid, group or capability is left.

`create_user_namespace` forks a short-lived helper (a fresh interpreter,
never a fork of the multi-threaded gateway) that unshares a user namespace
and waits; the gateway, root in the parent namespace, writes the maps and
keeps a descriptor of `/proc/<helper>/ns/user`, which keeps the namespace
alive after the helper exits. Blocking: call it through a thread.
"""

from __future__ import annotations

import os
import subprocess
import sys

import attrs

from autobot.platform.kernel_files import write_kernel_file

HELPER_SECONDS = 10.0  # a fresh interpreter unshares in tens of milliseconds
_HELPER = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "ok = libc.unshare(0x10000000) == 0\n"  # CLONE_NEWUSER
    "os.write(1, b'1' if ok else b'0')\n"
    "os.read(0, 1)\n"
)


class UserNamespaceError(Exception):
    """The sandbox's user namespace could not be created."""


@attrs.frozen
class SandboxIdentity:
    """The unprivileged host (uid, gid) sandboxed processes run as (never 0)."""

    uid: int
    gid: int

    def __attrs_post_init__(self) -> None:
        if self.uid <= 0 or self.gid <= 0:
            raise ValueError("the sandbox identity must be an unprivileged uid and gid (not 0)")


DEFAULT_SANDBOX_ID = 65534  # `tools.sandbox_uid` and `tools.sandbox_gid` by default


def default_identity(
    euid: int, uid: int = DEFAULT_SANDBOX_ID, gid: int = DEFAULT_SANDBOX_ID
) -> SandboxIdentity | None:
    """The identity of a gateway running as `euid` with `uid`:`gid` configured:
    None (the gateway's own uid) unless it runs as root."""
    return SandboxIdentity(uid, gid) if euid == 0 else None


def id_maps(identity: SandboxIdentity) -> tuple[str, str]:
    """The uid_map and gid_map contents: root for set-up, the identity for everything else."""
    return f"0 0 1\n{identity.uid} {identity.uid} 1\n", f"0 0 1\n{identity.gid} {identity.gid} 1\n"


def create_user_namespace(identity: SandboxIdentity) -> int:
    """A descriptor (close-on-exec) of a new user namespace mapped by `id_maps`.

    Requires root. Raises UserNamespaceError with the reason.
    """
    helper = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _HELPER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={},
    )
    assert helper.stdin is not None and helper.stdout is not None
    try:
        if helper.stdout.read(1) != b"1":
            raise UserNamespaceError("the kernel refused to create a user namespace")
        uid_map, gid_map = id_maps(identity)
        proc = f"/proc/{helper.pid}"
        try:
            write_kernel_file(f"{proc}/uid_map", uid_map)
            write_kernel_file(f"{proc}/gid_map", gid_map)
            return os.open(f"{proc}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise UserNamespaceError(
                f"cannot map the sandbox account {identity.uid}:{identity.gid}: {exc.strerror}"
            ) from exc
    finally:
        helper.stdin.close()
        try:
            helper.wait(HELPER_SECONDS)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
        helper.stdout.close()
