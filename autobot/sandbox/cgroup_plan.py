"""Where the sandbox's cgroups can live: pure decisions from /proc text.

As root the kernel does not enforce RLIMIT_NPROC (it exempts uid 0), and
RLIMIT_AS is per process, so a fork bomb defeats both. A pids (and memory)
cgroup per worker enforces them for the whole sandbox. This module decides,
from the text of `/proc/self/mountinfo` and `/proc/self/cgroup` and a reader
of cgroup files, which hierarchy to use for a controller and under which
directory, or says exactly why none is usable. `cgroups.py` does the I/O.

Rules: cgroup v2 is preferred when its hierarchy has the controller, else the
cgroup v1 hierarchy mounted for it. The gateway's per-process directory is
made below the gateway's own cgroup (so the sandboxes stay inside whatever
accounts for the gateway). In v2 that needs the controller in the own
cgroup's `cgroup.subtree_control`, which the kernel allows only where no
process lives (the no-internal-process rule) except at the hierarchy root;
failing that, the v2 hierarchy root is the fallback parent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

import attrs

from autobot.platform.mountinfo import parse_mounts

# What each controller's limit is written to, per cgroup version.
LIMIT_FILES = {
    ("pids", 1): "pids.max",
    ("pids", 2): "pids.max",
    ("memory", 1): "memory.limit_in_bytes",
    ("memory", 2): "memory.max",
}

Reader = Callable[[PurePosixPath], str | None]  # a cgroup file's text, None if unreadable


@attrs.frozen
class CgroupMount:
    """One mounted cgroup hierarchy: v1 with its controllers, or v2."""

    mountpoint: PurePosixPath
    root: str  # the mount's root inside the hierarchy ("/" unless a sub-tree is mounted)
    version: int
    controllers: frozenset[str]  # v1 only (from the super options); empty for v2


@attrs.frozen
class Hierarchy:
    """Where to put cgroups limiting `controller`: below `base`, in a cgroup
    v`version` hierarchy; `enable` says to write `+controller` into
    `base/cgroup.subtree_control` first (only ever at a v2 root)."""

    controller: str
    version: int
    base: PurePosixPath
    enable: bool = False

    @property
    def limit_file(self) -> str:
        return LIMIT_FILES[(self.controller, self.version)]


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts listed in `/proc/self/mountinfo` text."""
    mounts = []
    for mount in parse_mounts(text):
        if mount.fstype not in ("cgroup", "cgroup2"):
            continue
        version = 2 if mount.fstype == "cgroup2" else 1
        controllers = frozenset(mount.options) if version == 1 else frozenset()
        mounts.append(CgroupMount(PurePosixPath(mount.point), mount.root, version, controllers))
    return mounts


def parse_self_cgroup(text: str) -> dict[str, str]:
    """`/proc/self/cgroup` as {v1 controller: path}, with key "" for the v2 path."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def own_directory(mount: CgroupMount, path: str) -> PurePosixPath | None:
    """The directory of cgroup `path` under `mount`, None if outside what is mounted."""
    if mount.root == "/":
        relative = path
    elif path == mount.root or path.startswith(mount.root + "/"):
        relative = path[len(mount.root) :]
    else:
        return None
    return mount.mountpoint.joinpath(*PurePosixPath(relative or "/").parts[1:])


def plan_hierarchy(
    controller: str, mountinfo: str, self_cgroup: str, read: Reader
) -> Hierarchy | str:
    """The hierarchy for `controller` ("pids" or "memory"), or why there is none."""
    mounts = parse_mountinfo(mountinfo)
    paths = parse_self_cgroup(self_cgroup)
    reasons: list[str] = []
    for mount in mounts:
        if mount.version == 2 and "" in paths:
            found = _plan_v2(controller, mount, paths[""], read)
            if isinstance(found, Hierarchy):
                return found
            reasons.append(found)
    for mount in mounts:
        if mount.version == 1 and controller in mount.controllers:
            base = own_directory(mount, paths.get(controller, "/"))
            if base is not None:
                return Hierarchy(controller, 1, base)
            reasons.append(f"cgroup v1 {controller}: own cgroup is outside {mount.mountpoint}")
    if not reasons:
        reasons.append(f"no cgroup hierarchy with the {controller} controller is mounted")
    return "; ".join(reasons)


def _plan_v2(controller: str, mount: CgroupMount, path: str, read: Reader) -> Hierarchy | str:
    own = own_directory(mount, path)
    root = mount.mountpoint
    available = (read(root / "cgroup.controllers") or "").split()
    if controller not in available:
        return f"cgroup v2 at {root}: no {controller} controller (cgroup.controllers: {' '.join(available) or 'empty'})"
    candidates = [own, root] if own is not None and own != root else [root]
    for base in candidates:
        if controller in (read(base / "cgroup.subtree_control") or "").split():
            return Hierarchy(controller, 2, base)
    if mount.root == "/":
        return Hierarchy(controller, 2, root, enable=True)
    return (
        f"cgroup v2 at {root}: {controller} is not enabled in cgroup.subtree_control of {own} "
        "(a cgroup holding processes cannot enable it) nor of the mounted root"
    )
