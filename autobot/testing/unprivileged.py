"""Run a piece of a test as an unprivileged user, from a test running as root.

Root reads every file whatever its mode, so a permission failure (EACCES)
can only be shown by a process without that privilege. The interpreter may
live where that user cannot execute it (`/root/.pyenv`), so no new Python is
started: `run_as_nobody` forks the test process, the child drops to
uid/gid 65534 and runs the given function with the modules already loaded,
and its result comes back through a pipe. The paths it touches must be
reachable by that user: `traversable_directory` makes a fresh directory
others may pass through (mode 0711) but not list, outside pytest's private
temporary tree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

NOBODY = 65534


def run_as_nobody(work: Callable[[], str]) -> str:
    """`work()` run in a forked child as uid and gid `NOBODY` (no
    supplementary groups); returns its result, or `raised <Type>: <message>`
    for what it raised. Call it only as root, outside a Trio run."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                result = work()
            except BaseException as exc:  # noqa: BLE001 -- reported to the parent
                result = f"raised {type(exc).__name__}: {exc}"
            os.write(write_end, result.encode("utf-8"))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise AssertionError(f"the unprivileged child failed (status {status})")
    return data.decode("utf-8")


@contextlib.contextmanager
def traversable_directory() -> Iterator[Path]:
    """A fresh directory under the system temporary directory that `NOBODY`
    can pass through but not list (0711); removed with its content after."""
    path = Path(tempfile.mkdtemp(prefix="autobot-unprivileged-"))
    try:
        path.chmod(0o711)
        yield path
    finally:
        shutil.rmtree(path)
