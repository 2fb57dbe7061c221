"""Host process lookups for tests that prove sandboxed processes are gone."""

from __future__ import annotations

import os


def host_processes_with(marker: str) -> list[int]:
    """PIDs (host view) whose command line contains `marker`; processes that
    exit while being read are skipped."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found
