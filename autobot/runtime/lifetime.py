"""A command's whole life under SIGINT/SIGTERM: before Trio, start-up, running, teardown.

`autobot gateway`, `autobot agent` and `autobot demo` all run through here.
Each is a `Command`: it says what it starts, how it runs and reports, and
what a first signal means for its exit code (`FirstSignal`). The machinery
is the same for all of them, so that no moment is left to Python's defaults
(SIGINT raising KeyboardInterrupt in whatever code runs, SIGTERM killing the
process):

1. Before Trio: `run_command` runs Trio inside `signals_recorded`, where a
   signal is only recorded (Trio then leaves SIGINT alone: it installs its
   own KeyboardInterrupt handler only over Python's default one). Signals
   recorded before the watch began are replayed into it first, as if they
   had just arrived.
2. Start-up (`Command.start`: checks, configuration, building the tree): a
   first signal cancels it, and `Command.abandon` releases what was built
   and says so. A signal during start-up wins over what start-up concluded.
3. Running (`Command.run`): once it calls `Lifetime.running(stop)`, a first
   signal calls `stop`, which asks for a graceful stop (a first signal that
   arrived after start-up and before that call is acted on then).
4. In any phase, a second signal cancels everything at once; the command
   says so (`Command.stopped_immediately`).
5. After Trio: `ignore_signals_at_exit`, the exit code being decided. The
   moment between `run_command` returning and the interpreter's shutdown
   (the caller returning its exit code) is the only one left with default
   handlers.

Exit codes, whatever the command:

    its own     the command ran to its end, or refused to start (`Refused`)
    0           a first signal, `FirstSignal.STOPS`: start-up abandoned, or
                the graceful stop finished (then the command's own code,
                which is 0 unless something failed)
    128+N       a first signal N, `FirstSignal.INTERRUPTS` (the work was cut
                short); or a second signal N in any command (an immediate
                stop): 130 for SIGINT, 143 for SIGTERM, the shell's
                convention for "ended by a signal". The process still exits
                normally, with no traceback.

Not covered: importing the CLI before the command starts (see
`autobot.entry`). No domain imports.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import functools
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import FrameType
from typing import Protocol, TypeVar

import attrs
import trio

from autobot.runtime.signals import run_until_signalled

COMMAND_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SIGNAL_EXIT_BASE = 128  # ended by signal N exits 128 + N


def signal_name(signum: int) -> str:
    """`SIGTERM` for 15; the number for an unknown signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def signal_exit_code(signum: int) -> int:
    """The exit code of a command ended by signal `signum` (130 for SIGINT)."""
    return SIGNAL_EXIT_BASE + signum


@contextlib.contextmanager
def signals_recorded(signals: Iterable[int] = COMMAND_SIGNALS) -> Iterator[list[int]]:
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


def _ignore_command_signals() -> None:
    for signum in COMMAND_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def ignore_signals_at_exit() -> None:
    """Ignore SIGINT/SIGTERM while the interpreter shuts down (an `atexit` hook,
    registered once however often this is called): the exit code is decided."""
    atexit.unregister(_ignore_command_signals)
    atexit.register(_ignore_command_signals)


class FirstSignal(enum.Enum):
    """What a first SIGINT/SIGTERM means for a command's exit code."""

    # A graceful stop is a normal end (a server): exit 0 after abandoning
    # start-up, the command's own code after the graceful stop.
    STOPS = "stops"
    # The command's work was cut short (a conversation): exit 128 + N.
    INTERRUPTS = "interrupts"


@attrs.frozen
class Refused:
    """Start-up decided not to run (the command already said why): exit `code`."""

    code: int


Started = TypeVar("Started")


class Command(Protocol[Started]):
    """One command, as its lifetime drives it. `stderr` lines are its own."""

    @property
    def first_signal(self) -> FirstSignal:
        """What a first signal means for the exit code."""
        ...

    async def start(self) -> Started | Refused:
        """Check and build what `run` runs (cancelled by a first signal)."""
        ...

    async def abandon(self, started: Started | None, signum: int) -> None:
        """Start-up was cut short by signal `signum`: release what it built
        (`started`, None if it had not finished) and say so. Must not block
        for long: a second signal cancels it."""
        ...

    async def run(self, started: Started, life: Lifetime) -> int:
        """Run until done or stopped; the exit code. Calls `life.running(stop)`
        once there is something to stop."""
        ...

    def stopped_immediately(self, signum: int, *, first_acted_on: bool) -> None:
        """A second signal `signum` cut everything short: say so. The command
        was already told about the first signal (`abandon` was called, or the
        `stop` given to `running`) when `first_acted_on`."""
        ...


@attrs.define(kw_only=True, eq=False)
class Lifetime:
    """What each signal means in each phase of one command run.

    `live` runs the command's phases in it (start-up in one cancel scope,
    everything in another) and feeds every signal to `on_signal`. The first
    signal cancels start-up, or, once `running` was called, calls its
    `stop`; a second one cancels everything (an immediate stop). A command
    sees only `running` and `first_signal`; `stop` runs in the signal
    watcher's task.
    """

    _startup: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)
    _whole: trio.CancelScope = attrs.field(init=False, factory=trio.CancelScope)
    _received: list[int] = attrs.field(init=False, factory=list)
    _stop: Callable[[], None] | None = attrs.field(init=False, default=None)
    _first_acted_on: bool = attrs.field(init=False, default=False)

    def on_signal(self, signum: int) -> None:
        """Act on one signal (called by the signal watcher, or for a replayed one)."""
        self._received.append(signum)
        if len(self._received) >= 2:
            self._whole.cancel(f"second signal {signal_name(signum)}: immediate stop")
        elif self._stop is None:
            # During start-up: abandon it. After it (before `running`): a no-op,
            # and `running` acts on the signal.
            self._startup.cancel(f"{signal_name(signum)} during start-up: abandon it")
        else:
            self._first_acted_on = True
            self._stop()

    def running(self, stop: Callable[[], None]) -> None:
        """There is something to stop: a first signal from now on calls `stop`
        (which must ask for a graceful stop, and neither block nor raise). A
        first signal that already arrived calls it now. Call once."""
        self._stop = stop
        if len(self._received) == 1:
            self._first_acted_on = True
            stop()

    @property
    def first_signal(self) -> int | None:
        """The first signal received, if any."""
        return self._received[0] if self._received else None

    @property
    def immediate_signal(self) -> int | None:
        """The signal that forced an immediate stop, if any."""
        return self._received[1] if len(self._received) >= 2 else None

    async def _phases(self, command: Command[Started]) -> int:
        """Start-up, then running; the exit code unless a second signal cuts it short."""
        started: Started | Refused | None = None
        with self._startup:
            started = await command.start()
        # After a second signal nothing more is done (even by a start-up that
        # finished without noticing): the immediate stop is all there is to say.
        await trio.lowlevel.checkpoint_if_cancelled()
        signum = self.first_signal
        if signum is not None:
            self._first_acted_on = True
            await command.abandon(None if isinstance(started, Refused) else started, signum)
            return 0 if command.first_signal is FirstSignal.STOPS else signal_exit_code(signum)
        assert started is not None  # only a signal cancels start-up
        if isinstance(started, Refused):
            return started.code
        code = await command.run(started, self)
        signum = self.first_signal
        if signum is not None and command.first_signal is FirstSignal.INTERRUPTS:
            return signal_exit_code(signum)
        return code

    def _stopped_immediately(self, command: Command[Started]) -> int | None:
        """After a second signal: the command told so, and the exit code."""
        immediate = self.immediate_signal
        if immediate is None:
            return None
        command.stopped_immediately(immediate, first_acted_on=self._first_acted_on)
        return signal_exit_code(immediate)


async def live(command: Command[Started], *, early_signals: Sequence[int] = ()) -> int:
    """The whole `command` under Trio; returns its exit code (see the module).

    Must run in the main thread (it watches SIGINT/SIGTERM). `early_signals`
    are signals received before Trio started, read once the watch is in
    place; they count as if they arrived first. An exception from the
    command propagates (commands turn their failures into exit codes).
    """
    life = Lifetime()
    codes: list[int] = []

    async def main() -> None:
        for signum in early_signals:
            life.on_signal(signum)
        with life._whole:
            codes.append(await life._phases(command))

    await run_until_signalled(main, on_first=life.on_signal, on_second=life.on_signal)
    immediate = life._stopped_immediately(command)
    return codes[0] if immediate is None else immediate


def run_command(command: Command[Started]) -> int:
    """Synchronous entry point for the CLI: Trio runs `live(command)` inside
    `signals_recorded`, and the interpreter's shutdown after it ignores
    SIGINT/SIGTERM. Main thread only."""
    with signals_recorded() as early:
        code = trio.run(functools.partial(live, command, early_signals=early))
    ignore_signals_at_exit()
    return code
