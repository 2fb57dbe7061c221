"""Pure cgroup decisions: which hierarchy limits a controller, under which directory, or why none."""

from __future__ import annotations

from pathlib import PurePosixPath as P

import pytest

from autobot.sandbox.cgroup_plan import (
    CgroupMount,
    Hierarchy,
    own_directory,
    parse_mountinfo,
    parse_self_cgroup,
    plan_hierarchy,
)

# This CI host: hybrid, v1 controllers, an empty cgroup2 at /sys/fs/cgroup/unified.
HYBRID_MOUNTS = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
HYBRID_SELF = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
0::/
"""
# A modern host: pure cgroup v2, the gateway in a systemd service.
V2_MOUNTS = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V2_SELF = "0::/system.slice/autobot.service\n"
V2_ROOT = P("/sys/fs/cgroup")
V2_OWN = V2_ROOT / "system.slice" / "autobot.service"


def reader(files: dict[P, str]):  # type: ignore[no-untyped-def]
    return files.get


def test_parse_mountinfo_keeps_cgroup_mounts_only() -> None:
    mounts = parse_mountinfo(HYBRID_MOUNTS + "50 1 8:1 / /srv\\040data rw - ext4 /dev/sda1 rw\n")
    assert mounts == [
        CgroupMount(P("/sys/fs/cgroup/memory"), "/", 1, frozenset({"rw", "memory"})),
        CgroupMount(P("/sys/fs/cgroup/pids"), "/", 1, frozenset({"rw", "pids"})),
        CgroupMount(P("/sys/fs/cgroup/systemd"), "/", 1, frozenset({"rw", "name=systemd"})),
        CgroupMount(P("/sys/fs/cgroup/unified"), "/", 2, frozenset()),
    ]


def test_parse_mountinfo_unescapes_and_skips_garbage() -> None:
    text = "1 2 0:1 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\nnot a mountinfo line\n"
    assert parse_mountinfo(text) == [CgroupMount(P("/mnt/my cgroups"), "/", 2, frozenset())]


def test_parse_self_cgroup() -> None:
    assert parse_self_cgroup(HYBRID_SELF + "3:cpu,cpuacct:/x\n") == {
        "name=systemd": "/",
        "pids": "/",
        "memory": "/process_api/abc",
        "": "/",
        "cpu": "/x",
        "cpuacct": "/x",
    }


@pytest.mark.parametrize(
    ("root", "path", "expected"),
    [
        ("/", "/", "/sys/fs/cgroup/pids"),
        ("/", "/a/b", "/sys/fs/cgroup/pids/a/b"),
        ("/docker/c1", "/docker/c1", "/sys/fs/cgroup/pids"),
        ("/docker/c1", "/docker/c1/sub", "/sys/fs/cgroup/pids/sub"),
        ("/docker/c1", "/docker/c10", None),
        ("/docker/c1", "/other", None),
    ],
)
def test_own_directory(root: str, path: str, expected: str | None) -> None:
    mount = CgroupMount(P("/sys/fs/cgroup/pids"), root, 1, frozenset({"pids"}))
    assert own_directory(mount, path) == (None if expected is None else P(expected))


def test_hybrid_host_uses_the_v1_hierarchies() -> None:
    files = {P("/sys/fs/cgroup/unified/cgroup.controllers"): "\n"}
    assert plan_hierarchy("pids", HYBRID_MOUNTS, HYBRID_SELF, reader(files)) == Hierarchy(
        "pids", 1, P("/sys/fs/cgroup/pids")
    )
    assert plan_hierarchy("memory", HYBRID_MOUNTS, HYBRID_SELF, reader(files)) == Hierarchy(
        "memory", 1, P("/sys/fs/cgroup/memory/process_api/abc")
    )


def test_v2_below_the_own_cgroup_when_it_delegates_pids() -> None:
    files = {
        V2_ROOT / "cgroup.controllers": "cpu memory pids\n",
        V2_OWN / "cgroup.subtree_control": "memory pids\n",
    }
    assert plan_hierarchy("pids", V2_MOUNTS, V2_SELF, reader(files)) == Hierarchy("pids", 2, V2_OWN)


def test_v2_falls_back_to_the_root_when_the_own_cgroup_holds_processes() -> None:
    files = {
        V2_ROOT / "cgroup.controllers": "cpu memory pids\n",
        V2_ROOT / "cgroup.subtree_control": "cpu memory pids\n",
        V2_OWN / "cgroup.subtree_control": "",
    }
    assert plan_hierarchy("pids", V2_MOUNTS, V2_SELF, reader(files)) == Hierarchy(
        "pids", 2, V2_ROOT
    )


def test_v2_root_enables_the_controller_when_only_available() -> None:
    files = {V2_ROOT / "cgroup.controllers": "pids\n", V2_ROOT / "cgroup.subtree_control": ""}
    plan = plan_hierarchy("pids", V2_MOUNTS, "0::/\n", reader(files))
    assert plan == Hierarchy("pids", 2, V2_ROOT, enable=True)
    assert plan.limit_file == "pids.max"


def test_v2_memory_limit_file() -> None:
    files = {
        V2_ROOT / "cgroup.controllers": "memory\n",
        V2_ROOT / "cgroup.subtree_control": "memory",
    }
    plan = plan_hierarchy("memory", V2_MOUNTS, V2_SELF, reader(files))
    assert isinstance(plan, Hierarchy) and plan.limit_file == "memory.max"


def test_reason_when_v2_has_no_pids_and_no_v1_pids_is_mounted() -> None:
    files = {V2_ROOT / "cgroup.controllers": "cpu memory\n"}
    reason = plan_hierarchy("pids", V2_MOUNTS, V2_SELF, reader(files))
    assert (
        reason == "cgroup v2 at /sys/fs/cgroup: no pids controller (cgroup.controllers: cpu memory)"
    )


def test_reason_in_a_container_whose_cgroup_cannot_delegate() -> None:
    """A cgroup namespace: the mounted root is not the real root and holds the processes."""
    mounts = "30 23 0:26 /docker/c1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
    files = {V2_ROOT / "cgroup.controllers": "pids\n", V2_ROOT / "cgroup.subtree_control": ""}
    reason = plan_hierarchy("pids", mounts, "0::/docker/c1\n", reader(files))
    assert isinstance(reason, str)
    assert "pids is not enabled in cgroup.subtree_control of /sys/fs/cgroup" in reason


def test_reason_when_nothing_is_mounted() -> None:
    assert (
        plan_hierarchy("pids", "", "", reader({}))
        == "no cgroup hierarchy with the pids controller is mounted"
    )


def test_reason_when_the_own_v1_cgroup_is_outside_the_mount() -> None:
    mounts = "39 31 0:36 /lxc/a /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
    reason = plan_hierarchy("pids", mounts, "8:pids:/lxc/b\n", reader({}))
    assert reason == "cgroup v1 pids: own cgroup is outside /sys/fs/cgroup/pids"
