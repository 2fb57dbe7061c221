"""Per-worker cgroups that make the sandbox's process and memory limits real for a root gateway.

`GatewayCgroups.open(pid)` (root only; see `cgroup_plan` for where) makes one
directory per pool, `autobot-<pid>-<n>`, in each usable hierarchy (pids,
memory), and removes directories left by gateways that died. Each worker then
gets `worker-<n>` below it with the limits written (`pids.max`, the memory
limit); `WorkerCgroup.enter` is the `preexec_fn` that moves the freshly
forked bwrap into them before it forks anything, so the whole sandbox,
commands included, is counted. A worker's cgroups are removed once every
process in them is gone, the gateway's when the pool stops.

cgroupfs operations are in-kernel and never block, so they run inline.
Raises OSError where the kernel refuses (read-only mount, no permission).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import signal
from pathlib import Path, PurePosixPath

import attrs
import trio

from autobot.platform.kernel_files import write_kernel_file
from autobot.sandbox.cgroup_plan import Hierarchy, plan_hierarchy

CONTROLLERS = ("pids", "memory")
CLEANUP_POLL_SECONDS = 0.01  # a killed sandbox leaves its cgroup within milliseconds
_GATEWAY_DIR = re.compile(r"autobot-(\d+)-\d+")


def _read(path: PurePosixPath) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def plan_cgroups() -> tuple[list[Hierarchy], list[str]]:
    """The usable hierarchy per controller of this process, and why the others are not."""
    mountinfo, self_cgroup = (
        _read(PurePosixPath("/proc/self/mountinfo")),
        _read(PurePosixPath("/proc/self/cgroup")),
    )
    found: list[Hierarchy] = []
    reasons: list[str] = []
    for controller in CONTROLLERS:
        plan = plan_hierarchy(controller, mountinfo or "", self_cgroup or "", _read)
        if isinstance(plan, Hierarchy):
            found.append(plan)
        else:
            reasons.append(plan)
    return found, reasons


def open_gateway_cgroups(pid: int) -> tuple[GatewayCgroups | None, str]:
    """This gateway's cgroups, or None; and why the process limit is not
    enforced by a cgroup ("" when it is)."""
    hierarchies, reasons = plan_cgroups()
    cgroups = None
    if hierarchies:
        try:
            cgroups = GatewayCgroups.open(hierarchies, pid)
        except OSError as exc:
            reasons.append(f"cannot create cgroups: {exc}")
    if cgroups is not None and any(h.controller == "pids" for h in cgroups.hierarchies):
        return cgroups, ""
    pids_reasons = [reason for reason in reasons if "pids" in reason] or reasons
    return cgroups, "; ".join(pids_reasons)


def _remove_tree(directory: Path) -> None:
    """rmdir `directory` and its child cgroups (OSError if one still has processes)."""
    for child in sorted(p for p in directory.iterdir() if p.is_dir()):
        child.rmdir()
    directory.rmdir()


@attrs.define(kw_only=True, eq=False)
class WorkerCgroup:
    """One worker's cgroups (one per hierarchy), open for joining."""

    directories: tuple[Path, ...]
    _procs: tuple[int, ...]  # O_CLOEXEC descriptors of each `cgroup.procs`

    def enter(self) -> None:
        """preexec_fn: move the calling (just forked) process into every cgroup.
        Only raw writes: nothing here may take a lock in a forked child."""
        for fd in self._procs:
            os.write(fd, b"0")

    def describe(self) -> str:
        return ", ".join(map(str, self.directories))

    def close(self) -> None:
        for fd in self._procs:
            os.close(fd)
        self._procs = ()

    def remove(self) -> bool:
        """rmdir every directory; False while one still holds a process."""
        try:
            for directory in self.directories:
                if directory.exists():
                    directory.rmdir()
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return False
            raise
        return True

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroups: whatever the sandbox left."""
        for directory in self.directories:
            for pid in (_read(PurePosixPath(directory / "cgroup.procs")) or "").split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)

    async def remove_when_empty(self) -> None:
        """Close, kill what is left, and remove once the kernel has let every
        process go. Bound it at the call site: a process stuck in the kernel
        (uninterruptible I/O) keeps its cgroup."""
        self.close()
        self.kill_all()
        # A dying process leaves its cgroup with no event a trio task can await.
        while not self.remove():
            await trio.sleep(CLEANUP_POLL_SECONDS)
            self.kill_all()


@attrs.define(kw_only=True, eq=False)
class GatewayCgroups:
    """The gateway's `autobot-<pid>` directories, one per usable hierarchy."""

    hierarchies: tuple[Hierarchy, ...]
    directories: tuple[Path, ...]
    _created: int = 0

    @classmethod
    def open(cls, hierarchies: list[Hierarchy], pid: int) -> GatewayCgroups:
        """Create `autobot-<pid>-<n>` (the first free `n`: a process may run
        several pools) under each hierarchy's base, after removing those of
        dead gateways; OSError if the kernel refuses."""
        for hierarchy in hierarchies:
            remove_stale(Path(hierarchy.base))
            if hierarchy.enable:
                write_kernel_file(
                    Path(hierarchy.base) / "cgroup.subtree_control", f"+{hierarchy.controller}"
                )
        for number in itertools.count(1):
            name = f"autobot-{pid}-{number}"
            directories: list[Path] = []
            try:
                for hierarchy in hierarchies:
                    directory = Path(hierarchy.base) / name
                    directory.mkdir()
                    directories.append(directory)
                    if hierarchy.version == 2:
                        write_kernel_file(
                            directory / "cgroup.subtree_control", f"+{hierarchy.controller}"
                        )
            except OSError as exc:
                for directory in directories:
                    with contextlib.suppress(OSError):
                        _remove_tree(directory)
                if isinstance(exc, FileExistsError):
                    continue
                raise
            return cls(hierarchies=tuple(hierarchies), directories=tuple(directories))
        raise AssertionError("unreachable")

    def describe(self) -> str:
        return ", ".join(
            f"{h.controller} (cgroup v{h.version}) at {d}"
            for h, d in zip(self.hierarchies, self.directories, strict=True)
        )

    def new_worker(self, limits: dict[str, int]) -> WorkerCgroup:
        """A fresh `worker-<n>` in every hierarchy with `limits[controller]` written."""
        self._created += 1
        created: list[Path] = []
        procs: list[int] = []
        try:
            for hierarchy, parent in zip(self.hierarchies, self.directories, strict=True):
                directory = parent / f"worker-{self._created}"
                directory.mkdir()
                created.append(directory)
                write_kernel_file(
                    directory / hierarchy.limit_file, str(limits[hierarchy.controller])
                )
                procs.append(os.open(directory / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            for fd in procs:
                os.close(fd)
            for directory in created:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        return WorkerCgroup(directories=tuple(created), procs=tuple(procs))

    def remove(self) -> None:
        """Remove the gateway's directories (after every worker's); OSError if busy."""
        for directory in self.directories:
            if directory.exists():
                _remove_tree(directory)


def remove_stale(base: Path) -> None:
    """Remove the `autobot-<pid>` directories of gateways that no longer run."""
    for entry in base.iterdir() if base.is_dir() else ():
        match = _GATEWAY_DIR.fullmatch(entry.name)
        if match and entry.is_dir() and not Path(f"/proc/{match.group(1)}").exists():
            try:
                _remove_tree(entry)
            except OSError:
                continue  # still populated: leave it
