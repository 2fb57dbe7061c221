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

An attacker racing the code under test is a Python script of its own, run
as another account: `racing` starts it (with `python_for_account`'s
interpreter, through `as_account`) for the length of a block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs

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
            as_account(NOBODY, NOBODY)()
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


def as_account(uid: int, gid: int) -> Callable[[], None]:
    """What turns the calling process into `uid`:`gid` with no supplementary
    groups (a `preexec_fn`). Only root can call what it returns."""

    def become() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return become


def python_for_account(uid: int, gid: int) -> str | None:
    """An interpreter that `uid`:`gid` can run: this one (its real path), else
    `/usr/bin/python3`; None when it can run neither (the caller skips)."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        try:
            subprocess.run([candidate, "-c", ""], preexec_fn=as_account(uid, gid), check=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        return candidate
    return None


# What `racing` appends to a script: its rounds, until SIGTERM; then how many completed.
_RACE_LOOP = """
import signal as _signal, sys as _sys
_signal.signal(_signal.SIGTERM, lambda *_: _sys.exit(0))
_cycles = 0
print("ready", flush=True)
try:
    while True:
        try:
            race_once()
            _cycles += 1
        except OSError:
            pass
finally:
    print(_cycles, flush=True)
"""


@attrs.define
class Racer:
    """The script `racing` ran: `cycles` is how many rounds it completed, once it ended."""

    cycles: int | None = None


@contextlib.contextmanager
def racing(
    python: str, script: str, *args: str, uid: int, gid: int, pass_fds: Sequence[int]
) -> Iterator[Racer]:
    """Race the block with `script` run by `python` as `uid`:`gid`, with
    `args` as its `sys.argv[1:]` and the descriptors `pass_fds` inherited.

    The script defines `race_once()`, one round of the attack; it is called
    again and again (a round that fails with `OSError` is simply not counted)
    from before the block starts until the block ends. Then the process gets
    SIGTERM, and `Racer.cycles` is how many rounds it completed."""
    process = subprocess.Popen(
        [python, "-c", script + _RACE_LOOP, *args],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=as_account(uid, gid),
        pass_fds=tuple(pass_fds),
    )
    racer = Racer()
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        yield racer
    finally:
        process.terminate()
        output, _ = process.communicate()
        racer.cycles = int(output.split()[-1]) if output.split() else None
