"""Median latency of file and exec tools: persistent pool vs a fresh bwrap per operation.

Usage: .venv/bin/python scripts/bench_sandbox.py [--runs N] [--large-files N]

Both sides run in one process on the same workspace and the same bubblewrap
policy (masks included), interleaved sample by sample (pool, fresh, fresh,
pool, ...: the order alternates so neither side always runs second), so the
ratios compare like with like on a noisy machine. It runs twice: on a small
workspace and on a large one (`--large-files`, default 50,000 files), where
the pool must not pay for the size (its dotenv index is kept by inotify).
The fresh side gets its masks computed once, outside the timing: a real
per-operation sandbox would also have to walk the workspace every time (the
full-walk time is printed for the large workspace). It has the pool's
isolation (seccomp filter, /proc hardening, synthetic accounts from fresh
memfds); as root it runs bwrap as the pool's unprivileged identity, so its
commands are that account too, without a worker to drop to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from autobot.sandbox.bwrap import bwrap_argv
from autobot.sandbox.masks import find_env_masks
from autobot.sandbox.spawn_files import SpawnFiles
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger
from autobot.tools.base import ToolContext
from autobot.tools.exec import ExecTool
from autobot.tools.files import ListDirTool, ReadFileTool, WriteFileTool

Operation = Callable[[], Awaitable[object]]
FILES_PER_DIRECTORY = 20


async def interleaved_medians(
    runs: int, pooled: Operation, fresh: Operation
) -> tuple[float, float]:
    """Median milliseconds of each side, sampled alternately."""
    samples: dict[str, list[float]] = {"pool": [], "fresh": []}
    sides = [("pool", pooled), ("fresh", fresh)]
    for index in range(runs):
        for name, operation in sides if index % 2 == 0 else sides[::-1]:
            start = time.perf_counter()
            await operation()
            samples[name].append((time.perf_counter() - start) * 1000)
    return statistics.median(samples["pool"]), statistics.median(samples["fresh"])


def make_workspace(root: Path, files: int) -> Path:
    """`files` small text files, 20 per directory in a two-level tree, and one .env."""
    workspace = root.resolve()
    for index in range(files):
        directory = index // FILES_PER_DIRECTORY
        folder = (
            workspace
            if directory == 0
            else workspace / f"d{directory // 50}" / f"s{directory % 50}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{index}.txt").write_text("some text\n" * 50)
    (workspace / ".env").write_text("SECRET=1\n")
    return workspace


async def bench_workspace(label: str, files: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="autobot-bench-") as tmp:
        workspace = make_workspace(Path(tmp), files)
        directories = sum(1 for path in workspace.rglob("*") if path.is_dir()) + 1
        logger, _ = capture_logger()
        ctx = ToolContext(
            session_key="bench:1", channel="bench", chat_id="1", workspace=workspace, logger=logger
        )
        async with trio.open_nursery() as nursery:
            pool = await start_pool(nursery, workspace, logger, size=2)
            policy = pool.policy
            walk_start = time.perf_counter()
            masks = find_env_masks(workspace)
            walk_ms = (time.perf_counter() - walk_start) * 1000

            spawn_files = SpawnFiles.build(None)
            fresh_policy = attrs.evolve(policy, identity=None)
            as_identity: dict[str, object] = {}
            if policy.identity is not None:
                os.chmod(tmp, 0o755)  # bwrap runs as the identity: it must reach the workspace
                as_identity = {
                    "user": policy.identity.uid,
                    "group": policy.identity.gid,
                    "extra_groups": [],
                }

            def fresh(command: list[str], stdin: bytes | None = None) -> Operation:
                async def once() -> object:
                    with spawn_files.open_fds(with_worker=False) as fds:
                        argv = bwrap_argv(fresh_policy, command, fds=fds, masks=masks)
                        return await trio.run_process(
                            argv,
                            stdin=stdin,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            pass_fds=fds.all(),
                            **as_identity,
                        )

                return once

            read = ReadFileTool(pool=pool, workspace=workspace)
            listing = ListDirTool(pool=pool, workspace=workspace)
            write = WriteFileTool(pool=pool, workspace=workspace)
            run = ExecTool(pool=pool, workspace=workspace)
            cases = [
                ("read_file", lambda: read.run({"path": "file1.txt"}, ctx),
                 fresh(["cat", "/workspace/file1.txt"])),
                ("list_dir", lambda: listing.run({"path": "."}, ctx),
                 fresh(["ls", "-1a", "/workspace"])),
                ("write_file", lambda: write.run({"path": "out.txt", "content": "x" * 500}, ctx),
                 fresh(["sh", "-c", "cat > /workspace/out.txt"], stdin=b"x" * 500)),
                ("exec true", lambda: run.run({"command": "true"}, ctx), fresh(["true"])),
            ]  # fmt: skip
            print(f"\n{label}: {files:,} files in {directories:,} directories "
                  f"(one full dotenv walk: {walk_ms:.1f} ms)")  # fmt: skip
            print(f"median latency over {runs} interleaved runs (ms)")
            print(f"{'operation':<12}{'pool':>10}{'fresh bwrap':>14}{'ratio':>10}")
            for name, pooled, per_op in cases:
                pool_ms, fresh_ms = await interleaved_medians(runs, pooled, per_op)
                print(f"{name:<12}{pool_ms:>10.3f}{fresh_ms:>14.3f}{fresh_ms / pool_ms:>9.1f}x")
            print(pool.statistics())
            nursery.cancel_scope.cancel("benchmark done")


async def main(runs: int, large_files: int) -> None:
    await bench_workspace("small workspace", 20, runs)
    await bench_workspace("large workspace", large_files, runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--large-files", type=int, default=50_000)
    arguments = parser.parse_args()
    trio.run(main, arguments.runs, arguments.large_files)
