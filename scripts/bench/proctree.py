"""Memory and CPU of a process and all its descendants, read from /proc (no psutil).

A gateway's cost is its whole tree: autobot's sandbox workers (bubblewrap
and the worker inside) are children of the gateway, and whatever nanobot
starts is counted the same way. `read_tree` sums, over the tree:
- `VmRSS` from `/proc/<pid>/status` (what `ps` shows; pages shared between
  processes of the tree, the interpreter's, count once per process);
- `Pss` from `/proc/<pid>/smaps_rollup` (shared pages divided among their
  sharers: what the tree really costs the machine);
- user plus system CPU time from `/proc/<pid>/stat`.
A process that exits while it is being read is left out, as if it had
exited just before. The parsing is pure and tested on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@attrs.frozen(kw_only=True)
class TreeSample:
    """The tree's processes and their summed memory (kB) and CPU (seconds);
    `root_rss_kb` is the root process's own share of `rss_kb`."""

    pids: frozenset[int]
    rss_kb: int
    root_rss_kb: int
    pss_kb: int
    cpu_seconds: float


def parse_stat(text: str) -> tuple[int, int]:
    """(parent pid, user + system clock ticks) from a `/proc/<pid>/stat` line.
    The command name (field 2) may hold spaces and parentheses, so fields are
    counted after its last `)`. Raises `ValueError` for a malformed line."""
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 13:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    # after the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt
    # majflt cmajflt utime stime
    return int(fields[1]), int(fields[11]) + int(fields[12])


def parse_kb_field(text: str, name: str) -> int:
    """The `name:  <n> kB` value of a /proc status-like text; 0 when absent (a
    kernel thread or a zombie has no memory). Raises `ValueError` when the
    line is there but malformed."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            parts = line.split()
            if len(parts) != 3 or parts[2] != "kB":
                raise ValueError(f"malformed {name} line: {line!r}")
            return int(parts[1])
    return 0


def descendants(parents: Mapping[int, int], root: int) -> frozenset[int]:
    """`root` and every process below it, given each pid's parent pid."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return frozenset(found)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None  # the process exited meanwhile


def _all_stats(proc: Path) -> dict[int, tuple[int, int]]:
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (text := _read(entry / "stat")) is not None:
            stats[int(entry.name)] = parse_stat(text)
    return stats


def _memory(proc: Path, pids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(RSS, PSS) in kB of each of `pids`."""
    return {
        pid: (
            parse_kb_field(_read(proc / str(pid) / "status") or "", "VmRSS"),
            parse_kb_field(_read(proc / str(pid) / "smaps_rollup") or "", "Pss"),
        )
        for pid in pids
    }


def read_tree(root: int, proc: Path = PROC) -> TreeSample:
    """The tree under `root` now (blocking file reads: call it in a thread).
    Raises `ProcessLookupError` when `root` is not running."""
    stats = _all_stats(proc)
    if root not in stats:
        raise ProcessLookupError(f"process {root} is not running")
    pids = descendants({pid: parent for pid, (parent, _) in stats.items()}, root)
    memory = _memory(proc, pids)
    return TreeSample(
        pids=pids,
        rss_kb=sum(rss for rss, _ in memory.values()),
        root_rss_kb=memory[root][0],
        pss_kb=sum(pss for _, pss in memory.values()),
        cpu_seconds=sum(stats[pid][1] for pid in pids) / CLOCK_TICKS,
    )
