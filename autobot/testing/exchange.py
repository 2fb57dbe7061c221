"""A real attacker for race tests: a thread swapping two names atomically, in a loop.

`exchanging(a, b)` starts a thread that calls `renameat2(a, b, RENAME_EXCHANGE)` as
fast as it can (what a sandboxed command can do to the workspace at any moment) until
the `with` block ends. The kernel call releases the GIL, so on a multi-core machine
the swaps really interleave with the system calls of the code under test.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

AT_FDCWD = -100
RENAME_EXCHANGE = 2
# renameat2 by number where libc has no wrapper (glibc < 2.28).
SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}


@attrs.define(eq=False)
class Exchanger:
    """Counts the swaps made; `failure` is what stopped the thread early, if anything."""

    first: bytes
    second: bytes
    swaps: int = 0
    failure: OSError | None = None
    _stop: threading.Event = attrs.field(factory=threading.Event)

    def run(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        wrapper = getattr(libc, "renameat2", None)
        number = SYS_RENAMEAT2.get(os.uname().machine)
        while not self._stop.is_set():
            if wrapper is not None:
                result = wrapper(AT_FDCWD, self.first, AT_FDCWD, self.second, RENAME_EXCHANGE)
            elif number is not None:
                args = (AT_FDCWD, self.first, AT_FDCWD, self.second, RENAME_EXCHANGE)
                result = libc.syscall(ctypes.c_long(number), *args)
            else:
                self.failure = OSError(0, f"no renameat2 on {os.uname().machine}")
                return
            if result != 0:
                code = ctypes.get_errno()
                self.failure = OSError(code, os.strerror(code))
                return
            self.swaps += 1

    def stop(self) -> None:
        self._stop.set()


@contextmanager
def exchanging(first: Path, second: Path) -> Iterator[Exchanger]:
    """Swap `first` and `second` in a tight loop for the duration of the block.

    Both names must exist. After the block the thread has stopped; raises the
    OSError that stopped it early, if any, so a test never passes without an
    attacker.
    """
    exchanger = Exchanger(os.fsencode(first), os.fsencode(second))
    thread = threading.Thread(target=exchanger.run, name="renameat2-exchange", daemon=True)
    thread.start()
    try:
        yield exchanger
    finally:
        exchanger.stop()
        thread.join()
    if exchanger.failure is not None:
        raise exchanger.failure
