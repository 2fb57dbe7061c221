"""Writing a value to a kernel interface file (procfs, cgroupfs)."""

from __future__ import annotations

import os


def write_kernel_file(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` in one `write` call, as kernel interface files
    (`/proc/<pid>/uid_map`, `cgroup.procs`...) require. Raises OSError."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
