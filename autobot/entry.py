"""The `autobot` console script's first code: quiet signals while loading.

Importing the command line takes a moment (the Anthropic SDK alone is about a
second). Without this module a Ctrl-C in that window prints an import
traceback and a SIGTERM kills the process by signal. Here, until the command
line is loaded, Ctrl-C exits 130 and SIGTERM 143 with one line on stderr and
nothing started. Once loaded, each command handles signals itself (the
gateway and `agent`: first signal graceful, second immediate), and a Ctrl-C
that reaches this far (a command without its own handling) also exits 130.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
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


def run(load: Callable[[], Main] = _load_cli) -> int:
    """Load the command line (`load`) under quiet signal handling, then run it;
    returns the exit code. Only the loading window is covered for SIGTERM."""
    previous = signal.signal(signal.SIGTERM, _terminated_while_loading)
    try:
        main = load()
    except KeyboardInterrupt:
        return interrupted()
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        return main()
    except KeyboardInterrupt:
        return interrupted()


def interrupted() -> int:
    """Say so on stderr; the exit code for a Ctrl-C."""
    print("autobot: interrupted", file=sys.stderr)
    return INTERRUPTED_EXIT


def console_script() -> None:
    """The `autobot` executable (see `[project.scripts]`)."""
    sys.exit(run())
