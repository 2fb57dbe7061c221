"""A command's loading window: quiet Ctrl-C and SIGTERM while its code is imported.

Loading is importing the command line (a tenth of a second or two), then the
code of the command asked for (`autobot.cli` imports each command's package
only in its own branch, under `loading()`: the gateway's, with its HTTP
server, takes a few tenths more). Without this a Ctrl-C in that window prints
an import traceback and a SIGTERM kills the process by signal. Here, until the
command is loaded, SIGTERM exits `TERMINATED_EXIT` with one line on stderr and
nothing started, and a Ctrl-C (a KeyboardInterrupt) becomes `interrupted()`:
one line, exit `INTERRUPTED_EXIT`. Used by the console script's entry
(`autobot.entry`) and by the command line; it imports neither.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

INTERRUPTED_EXIT = 130  # 128 + SIGINT
TERMINATED_EXIT = 143  # 128 + SIGTERM


def _terminated_while_loading(signum: int, frame: FrameType | None) -> None:
    print("autobot: terminated while starting", file=sys.stderr)
    raise SystemExit(TERMINATED_EXIT)


@contextmanager
def loading() -> Iterator[None]:
    """While the block runs (an import), SIGTERM exits `TERMINATED_EXIT` with one
    line on stderr; the previous handler is back afterwards. Main thread only.
    (Ctrl-C is a KeyboardInterrupt, which the caller turns into `interrupted()`.)"""
    previous = signal.signal(signal.SIGTERM, _terminated_while_loading)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted() -> int:
    """Say so on stderr; the exit code for a Ctrl-C."""
    print("autobot: interrupted", file=sys.stderr)
    return INTERRUPTED_EXIT
