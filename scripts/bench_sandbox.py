"""Median latency of file and exec tools: persistent pool vs a fresh bwrap per operation.

Usage: .venv/bin/python scripts/bench_sandbox.py [--runs N]

Both sides run in one process, interleaved per operation, on the same
workspace and the same bubblewrap policy (masks included), so the ratios
compare like with like on a noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from autobot.sandbox.bwrap import bwrap_argv
from autobot.sandbox.masks import find_env_masks
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger
from autobot.tools.base import ToolContext
from autobot.tools.exec import ExecTool
from autobot.tools.files import ListDirTool, ReadFileTool, WriteFileTool


async def median_ms(runs: int, operation: Callable[[], Awaitable[object]]) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await operation()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def make_workspace(tmp: str) -> Path:
    workspace = Path(tmp).resolve()
    for index in range(20):
        (workspace / f"file{index}.txt").write_text("some text\n" * 50)
    (workspace / ".env").write_text("SECRET=1\n")
    return workspace


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="autobot-bench-") as tmp:
        workspace = make_workspace(tmp)
        logger, _ = capture_logger()
        ctx = ToolContext(
            session_key="bench:1", channel="bench", chat_id="1", workspace=workspace, logger=logger
        )
        async with trio.open_nursery() as nursery:
            pool = await start_pool(nursery, workspace, logger, size=2)
            policy = pool.policy
            masks = find_env_masks(workspace)

            def fresh(
                command: list[str], stdin: bytes | None = None
            ) -> Callable[[], Awaitable[object]]:
                argv = bwrap_argv(policy, command, masks=masks)

                async def once() -> object:
                    return await trio.run_process(
                        argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
            print(f"median latency over {runs} runs (ms)")
            print(f"{'operation':<12}{'pool':>10}{'fresh bwrap':>14}{'ratio':>10}")
            for name, pooled, per_op in cases:
                pool_ms = await median_ms(runs, pooled)
                fresh_ms = await median_ms(runs, per_op)
                print(f"{name:<12}{pool_ms:>10.3f}{fresh_ms:>14.3f}{fresh_ms / pool_ms:>9.1f}x")
            print(pool.statistics())
            nursery.cancel_scope.cancel("benchmark done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    trio.run(main, parser.parse_args().runs)
