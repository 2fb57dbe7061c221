"""Pure builder of the bubblewrap command line for a sandbox worker (or probe).

Guarantees encoded here, each checked by tests: every namespace unshared
(network shared back only when the policy allows it), the command as PID 1
of its PID namespace (`--as-pid-1`, see `worker_main`), the seccomp filter
(`seccomp.py`) on every process, all capabilities dropped (bwrap keeps them
when run by root), a cleared environment with only PATH/HOME/LANG/TMPDIR,
the system directories read-only, a private /tmp and /proc with the kernel's
writable interfaces read-only and its revealing ones hidden, a read-only
root, the workspace read-write at the fixed `/workspace`, and every dotenv
entry in the workspace masked by the kernel. The worker program and the
synthetic passwd/group are copied in from descriptors (`SandboxFds`), so no
host path of the bot's installation appears in the sandbox's mount table.

With an identity (a root gateway), bwrap joins the pool's user namespace
(`userns.py`) and keeps only CAP_SETUID/CAP_SETGID, which the worker uses to
become the unprivileged identity before anything else: only the worker may
run that way (`IdentityNeedsWorker`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

import attrs

from autobot.sandbox.masks import EnvMask
from autobot.sandbox.policy import (
    SANDBOX_PATH,
    SANDBOX_WORKSPACE,
    WORKER_IN_SANDBOX,
    ResourceLimits,
    SandboxPolicy,
    limits_argument,
)
from autobot.sandbox.userns import SandboxIdentity

BWRAP = "bwrap"
SANDBOX_HOME = "/tmp"  # private tmpfs: nothing of the host's home exists inside
SANDBOX_ENV = (
    ("PATH", SANDBOX_PATH),
    ("HOME", SANDBOX_HOME),
    ("LANG", "C.UTF-8"),
    ("TMPDIR", "/tmp"),
)


@attrs.frozen(kw_only=True)
class SandboxFds:
    """Descriptors bwrap reads at start (each open in the child; see `spawn_files`).

    `seccomp` holds the compiled filter, `passwd`/`group` the synthetic account
    files, `worker` the worker program (None when the command is not the
    worker), `userns` the pool's user namespace (None without an identity).
    """

    seccomp: int
    passwd: int
    group: int
    worker: int | None = None
    userns: int | None = None

    def all(self) -> tuple[int, ...]:
        """Every descriptor, for `pass_fds`."""
        fds = (self.seccomp, self.passwd, self.group, self.worker, self.userns)
        return tuple(fd for fd in fds if fd is not None)


class IdentityNeedsWorker(ValueError):
    """Only the worker, which drops to the identity first, may run in the pool's user namespace."""


def worker_command(limits: ResourceLimits, identity: SandboxIdentity | None) -> tuple[str, ...]:
    """The worker's command line inside the sandbox."""
    command = ["/usr/bin/python3", "-I", WORKER_IN_SANDBOX, SANDBOX_WORKSPACE]
    command.append(limits_argument(limits))
    if identity is not None:
        command.append(f"--drop-to={identity.uid}:{identity.gid}")
    return tuple(command)


def _namespaces(policy: SandboxPolicy, fds: SandboxFds) -> list[str]:
    if fds.userns is None:
        argv = ["--unshare-all", "--unshare-pid"]
        return [*argv, "--share-net"] if policy.network else argv
    argv = ["--userns", str(fds.userns), "--unshare-ipc", "--unshare-pid", "--unshare-uts"]
    argv.append("--unshare-cgroup-try")
    return argv if policy.network else [*argv, "--unshare-net"]


def _capabilities(fds: SandboxFds) -> list[str]:
    if fds.userns is None:
        return ["--cap-drop", "ALL"]
    return ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]


def _proc(policy: SandboxPolicy) -> list[str]:
    """A private /proc: the kernel's writable interfaces read-only, revealing ones hidden.

    The read-only entries are bound from the host's /proc: what a sysctl
    file shows depends on the reader's namespaces, not on the mount.
    """
    argv = ["--proc", "/proc"]
    for name in policy.proc_readonly:
        argv += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    for entry in policy.proc_hidden:
        target = f"/proc/{entry.name}"
        if entry.is_dir:
            argv += ["--tmpfs", target, "--remount-ro", target]
        else:
            argv += ["--ro-bind", "/dev/null", target]
    return argv


def bwrap_argv(
    policy: SandboxPolicy,
    command: Sequence[str],
    *,
    fds: SandboxFds,
    masks: Iterable[EnvMask] = (),
) -> list[str]:
    """The full argv: `bwrap <isolation> -- <command>`.

    `masks` are the dotenv entries to hide (see `masks.find_env_masks`);
    `fds.worker` puts the worker program read-only at `WORKER_IN_SANDBOX`.
    Raises IdentityNeedsWorker for a user namespace without the worker.
    """
    if fds.userns is not None and (fds.worker is None or WORKER_IN_SANDBOX not in command):
        raise IdentityNeedsWorker("an identity sandbox runs the worker, which drops to it first")
    # `--as-pid-1`: the command itself is PID 1 of the new PID namespace (no bwrap
    # init holding its stdin/stdout), so the worker reaps and kills every other process.
    argv = [BWRAP, *_namespaces(policy, fds), "--as-pid-1"]
    argv += ["--die-with-parent", "--new-session", *_capabilities(fds)]
    argv += ["--seccomp", str(fds.seccomp)]
    for mount in policy.system:
        if mount.symlink_target is None:
            argv += ["--ro-bind", mount.path, mount.path]
        else:
            argv += ["--symlink", mount.symlink_target, mount.path]
    # Parents bwrap would create for a file are 0700 (bwrap 0.8): make them readable first.
    argv += ["--dir", "/etc"]
    for path in policy.etc:
        argv += ["--ro-bind", path, path]
    # `--perms`: world-readable files (and parents), whoever the sandbox runs as
    argv += ["--perms", "0444", "--ro-bind-data", str(fds.passwd), "/etc/passwd"]
    argv += ["--perms", "0444", "--ro-bind-data", str(fds.group), "/etc/group"]
    argv += [*_proc(policy), "--dev", "/dev", "--tmpfs", "/tmp"]
    argv += ["--bind", str(policy.workspace), SANDBOX_WORKSPACE]
    for mask in sorted(masks):
        target = f"{SANDBOX_WORKSPACE}/{mask.relpath}"
        if mask.is_dir:
            argv += ["--tmpfs", target, "--remount-ro", target]
        else:
            argv += ["--ro-bind", "/dev/null", target]
    if fds.worker is not None:
        argv += ["--dir", str(PurePosixPath(WORKER_IN_SANDBOX).parent)]
        argv += ["--perms", "0444", "--ro-bind-data", str(fds.worker), WORKER_IN_SANDBOX]
    argv += ["--remount-ro", "/"]  # the sandbox's own root (and /etc, /opt) stay read-only
    argv.append("--clearenv")
    for name, value in SANDBOX_ENV:
        argv += ["--setenv", name, value]
    if fds.userns is None:  # the identity's worker changes directory once it is the identity
        argv += ["--chdir", SANDBOX_WORKSPACE]
    argv += ["--", *command]
    return argv
