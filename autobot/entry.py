"""The `autobot` console script's first code: quiet signals while loading.

`run` imports the command line under `autobot.loading.loading()` (which
`autobot.cli` also wraps around each command's own imports), so until the
command is loaded Ctrl-C exits 130 and SIGTERM 143 with one line on stderr and
nothing started. Once loaded, each command handles signals itself (the
gateway, `agent` and `demo`: first signal graceful, second immediate), and a
Ctrl-C that reaches this far (a command without its own handling) also exits
130.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable

from autobot.loading import interrupted, loading

Main = Callable[[], int]


def _load_cli() -> Main:
    from autobot.cli import main

    return main


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
