"""SIGINT/SIGTERM over the gateway process's whole life: start-up, run, teardown.

Exit codes of `autobot gateway` (`serve` returns them):

    0       stopped gracefully by a first SIGINT/SIGTERM: the tree stopped in
            reverse start order, or, during start-up, start-up was abandoned
            before anything ran; also when the tree finishes on its own
    1       refused to start (doctor errors, config, provider, a port in use)
            or the tree failed
    128+N   stopped immediately by a second signal N before the graceful stop
            finished (130 for SIGINT, 143 for SIGTERM, the shell's convention
            for "ended by a signal"); the process still exits normally, with
            no traceback

Three layers, so that no moment is left to Python's defaults (SIGINT raising
KeyboardInterrupt in whatever code runs, SIGTERM killing the process):

1. `signals_recorded` (sync, around `trio.run`): from the first line of
   `gateway_main` until it returns, a signal is only recorded. Trio also
   leaves SIGINT alone then (it installs its own KeyboardInterrupt handler
   only over Python's default one).
2. Inside Trio, `run_until_signalled` (autobot.runtime) watches the signals
   and a `Lifetime` decides what each one means in the current phase;
   signals recorded before the watch began are replayed into it first.
3. `ignore_signals_at_exit`: once `gateway_main` has its exit code, the
   interpreter's own shutdown ignores further signals (Python would reset
   its handlers to the defaults then). The code between `gateway_main`
   returning and that hook (the CLI returning its exit code) is the only
   moment left with default handlers.

Not covered: importing the CLI before `gateway_main` runs (a signal while
the interpreter starts and imports the LLM SDKs behaves as Python's default).
"""

from __future__ import annotations

import atexit
import contextlib
import signal
from collections.abc import Callable, Iterable, Iterator
from types import FrameType

import attrs
import trio

GATEWAY_SIGNALS = (signal.SIGINT, signal.SIGTERM)
IMMEDIATE_EXIT_BASE = 128  # immediate stop by signal N exits 128 + N


def signal_name(signum: int) -> str:
    """`SIGTERM` for 15; the number for an unknown signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


@contextlib.contextmanager
def signals_recorded(signals: Iterable[int] = GATEWAY_SIGNALS) -> Iterator[list[int]]:
    """Until the block ends, each of `signals` is appended to the yielded list
    instead of raising KeyboardInterrupt or ending the process.

    A handler installed inside the block (Trio's signal receiver) takes over
    and puts this one back when it closes. The previous handlers are restored
    on exit. Main thread only (Python's rule for signal handlers).
    """
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, record) for signum in signals}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _ignore_gateway_signals() -> None:
    for signum in GATEWAY_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def ignore_signals_at_exit() -> None:
    """Ignore SIGINT/SIGTERM while the interpreter shuts down (an `atexit` hook,
    registered once however often this is called): the exit code is decided."""
    atexit.unregister(_ignore_gateway_signals)
    atexit.register(_ignore_gateway_signals)


@attrs.define(kw_only=True, eq=False)
class Lifetime:
    """What a signal means in each phase of one gateway run.

    `startup` wraps the start-up work (doctor checks, config load, building
    the tree) and `whole` wraps everything; `serve` enters both. The first
    signal cancels start-up, or, once `running` was called, asks the tree to
    stop gracefully; a second one cancels everything (immediate stop).
    """

    startup: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    whole: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    received: list[int] = attrs.field(factory=list)
    _stop: Callable[[], None] | None = None

    def on_signal(self, signum: int) -> None:
        """Act on one signal (called by the signal watcher, or for a replayed one)."""
        self.received.append(signum)
        if len(self.received) >= 2:
            self.whole.cancel(f"second signal {signal_name(signum)}: immediate stop")
        elif self._stop is None:
            self.startup.cancel(f"{signal_name(signum)} during start-up: abandon it")
        else:
            self._stop()

    def running(self, stop: Callable[[], None]) -> None:
        """Start-up is over and the tree is about to run: a first signal from now
        on calls `stop` (a graceful stop)."""
        self._stop = stop

    @property
    def immediate_signal(self) -> int | None:
        """The signal that forced an immediate stop, if any."""
        return self.received[1] if len(self.received) >= 2 else None
