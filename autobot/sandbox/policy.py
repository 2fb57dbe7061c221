"""What a sandbox worker may see and do: the immutable `SandboxPolicy`.

The policy is built once at start from the config and the host layout
(`host_system_mounts`, which is the only I/O here); argv builders for every
backend are pure functions of it.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from autobot.sandbox.userns import SandboxIdentity

SANDBOX_WORKSPACE = "/workspace"  # fixed in-sandbox path: host paths never reach the model
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
WORKER_IN_SANDBOX = "/opt/autobot/worker_main.py"
WORKER_SCRIPT = Path(__file__).with_name("worker_main.py")

# System directories bound read-only when they exist (symlinks are recreated as symlinks).
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
# The few /etc entries the dynamic loader, sh, python and TLS clients need.
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/alternatives", "/etc/ssl", "/etc/localtime")
# Kernel interfaces under /proc: writable ones made read-only, revealing ones hidden
# (the same lists container runtimes use).
PROC_READONLY = ("bus", "fs", "irq", "sys", "sysrq-trigger")
PROC_HIDDEN = (
    "acpi", "asound", "kcore", "keys", "latency_stats", "sched_debug", "scsi",
    "timer_list", "timer_stats",
)  # fmt: skip


@attrs.frozen(kw_only=True)
class ResourceLimits:
    """Kernel limits applied to every exec command (the worker's own rlimits,
    inherited: see `worker_main.limit_self`).

    `processes` (RLIMIT_NPROC) counts every process of the host uid that runs
    the sandbox, and the kernel exempts root; `memory_bytes` (RLIMIT_AS)
    holds per process. So a root gateway also gives each worker a cgroup
    (`cgroups.py`) where `processes` caps the sandbox's processes and
    `memory_bytes` its memory as a whole; without a usable cgroup the pool
    warns, and running as an unprivileged account (or `SandboxPolicy.run_as`)
    is what keeps RLIMIT_NPROC meaningful.
    """

    cpu_seconds: int = 60
    memory_bytes: int = 1024 * 1024 * 1024
    processes: int = 256
    file_size_bytes: int = 256 * 1024 * 1024


@attrs.frozen
class SystemMount:
    """One host system entry: bound read-only (`target` None) or recreated as a symlink."""

    path: str
    symlink_target: str | None = None


@attrs.frozen
class ProcEntry:
    """A `/proc` entry hidden from the sandbox: a directory (an empty read-only
    tmpfs over it) or a file (`/dev/null` over it)."""

    name: str
    is_dir: bool


@attrs.frozen(kw_only=True)
class SandboxPolicy:
    """Everything a worker's sandbox is built from.

    `workspace` is the resolved host directory bound read-write at
    `SANDBOX_WORKSPACE`. `env` holds the forwarded `tools.sandbox_env` names
    with their values; they reach commands through the worker protocol, never
    through argv (other host users can read a process's argv). `identity` is
    the unprivileged account sandboxed processes run as when the gateway runs
    as root (their own user namespace: `userns.py`); None means the gateway's
    own uid, through an unprivileged user namespace. `workspace_owner` is who
    owns the workspace (docker runs as that account without an identity).
    `proc_readonly` and `proc_hidden` are the `/proc` entries of this kernel
    made read-only or hidden in every sandbox (`host_proc_entries`).
    `protected_inodes` are the (st_dev, st_ino) of the bot's `.env` file(s):
    a hard link to one inside the workspace is masked like a dotenv name.
    """

    workspace: Path
    network: bool = False
    env: tuple[tuple[str, str], ...] = ()
    limits: ResourceLimits = ResourceLimits()
    system: tuple[SystemMount, ...] = ()
    etc: tuple[str, ...] = ()
    identity: SandboxIdentity | None = None
    proc_readonly: tuple[str, ...] = ()
    proc_hidden: tuple[ProcEntry, ...] = ()
    workspace_owner: tuple[int, int] | None = None  # (uid, gid): docker's --user
    protected_inodes: frozenset[tuple[int, int]] = frozenset()  # security.protected_files


def limits_argument(limits: ResourceLimits) -> str:
    """The worker's `--limits=` argument (see `worker_main.limit_self`)."""
    values = (limits.cpu_seconds, limits.memory_bytes, limits.processes, limits.file_size_bytes)
    return "--limits=" + ",".join(str(value) for value in values)


def host_system_mounts() -> tuple[tuple[SystemMount, ...], tuple[str, ...]]:
    """The system directories and /etc entries that exist on this host."""
    system: list[SystemMount] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            system.append(SystemMount(path, os.readlink(path)))
        elif os.path.isdir(path):
            system.append(SystemMount(path))
    etc = tuple(path for path in SYSTEM_ETC if os.path.exists(path))
    return tuple(system), etc


def host_proc_entries(proc: str = "/proc") -> tuple[tuple[str, ...], tuple[ProcEntry, ...]]:
    """Which of `PROC_READONLY` and `PROC_HIDDEN` this kernel has (a sandbox's
    new /proc has the same top-level entries as the host's)."""
    readonly = tuple(name for name in PROC_READONLY if os.path.lexists(f"{proc}/{name}"))
    hidden = tuple(
        ProcEntry(name, os.path.isdir(f"{proc}/{name}"))
        for name in PROC_HIDDEN
        if os.path.lexists(f"{proc}/{name}")
    )
    return readonly, hidden


def forwarded_env(names: tuple[str, ...], environ: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The `(name, value)` pairs of `names` present in `environ`, in order."""
    return tuple((name, environ[name]) for name in names if name in environ)
