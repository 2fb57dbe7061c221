"""Per-worker cgroups for a root gateway, for real: fork bomb and memory bomb contained.

As root the kernel ignores RLIMIT_NPROC and RLIMIT_AS is per process; the
pool's cgroups make both limits hold for the whole sandbox. These tests run
only as root on a host with a usable pids cgroup (this CI host has cgroup v1).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from autobot.sandbox import pool as pool_module
from autobot.sandbox.cgroup_plan import own_directory, parse_mountinfo, parse_self_cgroup
from autobot.sandbox.cgroups import plan_cgroups
from autobot.sandbox.policy import ResourceLimits
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger, drain
from autobot.tools.base import ToolContext
from autobot.tools.exec import ExecTool


def pids_cgroup_usable() -> bool:
    return any(h.controller == "pids" for h in plan_cgroups()[0])


needs_root_cgroups = pytest.mark.skipif(
    os.geteuid() != 0 or not pids_cgroup_usable(),
    reason="needs root and a writable pids cgroup (cgroup v1 pids, or v2 with pids delegated)",
)


def cgroup_dir(pid: int, controller: str) -> Path:
    """The host directory of `pid`'s cgroup for `controller` (v1 or v2)."""
    with open("/proc/self/mountinfo") as handle:
        mounts = parse_mountinfo(handle.read())
    with open(f"/proc/{pid}/cgroup") as handle:
        paths = parse_self_cgroup(handle.read())
    for mount in mounts:
        if mount.version == 1 and controller in mount.controllers:
            found = own_directory(mount, paths[controller])
        elif mount.version == 2 and controller not in paths:
            found = own_directory(mount, paths[""])
        else:
            continue
        if found is not None and (Path(found) / "cgroup.procs").exists():
            return Path(found)
    raise AssertionError(f"no {controller} cgroup for {pid}")


def gateway_dirs() -> list[Path]:
    """The `autobot-<this pid>-<n>` directories in every usable hierarchy."""
    return [
        entry
        for hierarchy in plan_cgroups()[0]
        for entry in Path(hierarchy.base).glob(f"autobot-{os.getpid()}-*")
    ]


def make_tool(pool, workspace: Path):  # type: ignore[no-untyped-def]
    logger, _ = capture_logger()
    ctx = ToolContext(
        session_key="telegram:1", channel="telegram", chat_id="1", workspace=workspace,
        logger=logger,
    )  # fmt: skip
    return ExecTool(pool=pool, workspace=workspace, timeout=20.0), ctx


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = (tmp_path / "workspace").resolve()
    path.mkdir()
    return path


@needs_root_cgroups
async def test_fork_bomb_as_root_is_contained_at_the_limit(
    workspace: Path, nursery: trio.Nursery
) -> None:
    logger, records = capture_logger()
    limits = ResourceLimits(processes=48, cpu_seconds=10)
    # a root gateway: the sandbox runs as the unprivileged identity, in a cgroup of its own
    pool = await start_pool(nursery, workspace, logger, size=1, limits=limits)
    messages = [r.message for r in drain(records)]
    assert not [m for m in messages if "does not enforce the process limit" in m]
    assert any("sandbox limits enforced by cgroups" in m for m in messages)
    tool, ctx = make_tool(pool, workspace)
    async with pool.lease() as worker:
        pids = cgroup_dir(worker.process.pid, "pids")
    assert (pids / "pids.max").read_text().strip() == "50"  # 48 + bwrap + worker

    command = "bash -c ':(){ :|:& };:'; sleep 2; echo done"  # dash rejects ':' as a name
    bomb = await tool.run({"command": command, "timeout": 5}, ctx)

    assert "fork: retry: Resource temporarily unavailable" in bomb.text
    assert not bomb.text.startswith("Error: the sandbox worker failed")
    # RLIMIT_NPROC (the identity is not root) or the cgroup refused the forks
    if (pids / "pids.peak").exists():
        assert int((pids / "pids.peak").read_text()) <= 50
    assert (pids / "pids.current").read_text().strip() == "2"  # only bwrap and the worker left
    after = await tool.run({"command": "echo alive; id -u"}, ctx)
    assert after.text == "alive\n65534"


@needs_root_cgroups
async def test_memory_bomb_across_processes_is_contained(
    workspace: Path, nursery: trio.Nursery
) -> None:
    """RLIMIT_AS is per process: six processes of 80 MB each pass it (128 MB) but
    not the sandbox's memory cgroup (128 MB + the worker's 64 MB)."""
    if not any(h.controller == "memory" for h in plan_cgroups()[0]):
        pytest.skip("no writable memory cgroup")
    limits = ResourceLimits(memory_bytes=128 * 1024 * 1024, cpu_seconds=20)
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=1, limits=limits)
    tool, ctx = make_tool(pool, workspace)
    async with pool.lease() as worker:
        memory = cgroup_dir(worker.process.pid, "memory")
    hog = "import time; x = b'a' * 80_000_000; print('held', flush=True); time.sleep(3)"
    result = await tool.run(
        {"command": f'for i in 1 2 3 4 5 6; do python3 -c "{hog}" & done; wait', "timeout": 15},
        ctx,
    )
    assert result.text.count("held") < 6
    usage = memory / "memory.max_usage_in_bytes"
    if usage.exists():
        assert int(usage.read_text()) <= (128 + 64) * 1024 * 1024
    assert (await tool.run({"command": "echo alive"}, ctx)).text == "alive"


@needs_root_cgroups
async def test_cgroups_are_removed_with_workers_and_the_pool(workspace: Path) -> None:
    async with trio.open_nursery() as nursery:
        pool = await start_pool(nursery, workspace, capture_logger()[0], size=1, max_requests=1)
        async with pool.lease() as worker:
            first = cgroup_dir(worker.process.pid, "pids")
            await worker.ping()
            await worker.exec("true", cwd=".", time_limit=5, max_output=10)  # worn out
        async with pool.lease() as worker:
            assert cgroup_dir(worker.process.pid, "pids") != first
        with trio.fail_after(10):
            # the replaced worker's cgroup goes once its last process is gone
            while first.exists():  # noqa: ASYNC110
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel("test done")
    assert gateway_dirs() == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the process-limit warning is for a root gateway")
async def test_warning_says_why_without_a_pids_cgroup(
    workspace: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        pool_module,
        "open_gateway_cgroups",
        lambda pid: (None, "cgroup v2 at /sys/fs/cgroup: no pids controller"),
    )
    logger, records = capture_logger()
    await start_pool(nursery, workspace, logger, size=1)
    assert (
        "sandbox of a root gateway: without a cgroup the process limit counts every "
        "process of uid 65534 on the host (cgroup v2 at /sys/fs/cgroup: no pids controller)"
    ) in [r.message for r in drain(records)]
