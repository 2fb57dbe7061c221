"""The `autobot` console script's first code: quiet signals while loading.

Loading is importing the command line (a tenth of a second or two), then the
code of the command asked for (`autobot.cli` imports each command's package
only in its own branch, under `loading()`: the gateway's, with its HTTP
server, takes a few tenths more). Without this module a Ctrl-C in that window
prints an import traceback and a SIGTERM kills the process by signal. Here,
until the command is loaded, Ctrl-C exits 130 and SIGTERM 143 with one line
on stderr and nothing started. Once loaded, each command handles signals
itself (the gateway, `agent` and `demo`: first signal graceful, second
immediate), and a Ctrl-C that reaches this far (a command without its own
handling) also exits 130.
"""

from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

INTERRUPTED_EXIT = 130  # 128 + SIGINT
TERMINATED_EXIT = 143  # 128 + SIGTERM

Main = Callable[[], int]


def _load_cli() -> Main:
    from autobot.cli import main

    return main


def _terminated_while_loading(signum: int, frame: FrameType | None) -> None:
    print("autobot: terminated while starting", file=sys.stderr)
    raise SystemExit(TERMINATED_EXIT)


@contextmanager
def loading() -> Iterator[None]:
    """While the block runs (an import), SIGTERM exits `TERMINATED_EXIT` with one
    line on stderr; the previous handler is back afterwards. Main thread only.
    (Ctrl-C is a KeyboardInterrupt, which `run` turns into its one line.)"""
    previous = signal.signal(signal.SIGTERM, _terminated_while_loading)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(load: Callable[[], Main] = _load_cli) -> int:
    """Load the command line (`load`) under quiet signal handling, then run it;
    returns the exit code. SIGTERM is covered while loading only (the command
    line covers its commands' own imports with `loading()`)."""
    try:
        with loading():
            main = load()
        return main()
    except KeyboardInterrupt:
        return interrupted()


def interrupted() -> int:
    """Say so on stderr; the exit code for a Ctrl-C."""
    print("autobot: interrupted", file=sys.stderr)
    return INTERRUPTED_EXIT


def console_script() -> None:
    """The `autobot` executable (see `[project.scripts]`).

    Once the command returns, the heap is frozen (`gc.freeze`): the process is
    ending, and the interpreter's collections at exit would otherwise scan every
    object the command loaded, which is most of a short command's exit time
    (~40 ms of the doctor's ~0.35 s). Exit handlers and finalizers registered
    with `atexit` or `weakref.finalize` still run.
    """
    code = run()
    gc.freeze()
    sys.exit(code)
