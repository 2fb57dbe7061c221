"""The lifetime every command runs in: real signals sent to this process,
exact virtual times. Each signal is consumed by the watcher before the run
ends (a pending one would be re-delivered to the test process)."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing

from autobot.runtime.lifetime import (
    SIGNAL_EXIT_BASE,
    FirstSignal,
    Lifetime,
    Refused,
    live,
    run_command,
    signal_exit_code,
    signal_name,
    signals_recorded,
)

GRACE = 4.0  # how long the scripted command takes to stop gracefully
RUNS_FOR = 30.0  # how long it runs when nobody stops it


async def _signal(signum: int) -> None:
    """Send `signum` to this process and let the watcher act on it."""
    with trio.CancelScope(shield=True):  # the signal may cancel the sender's scope
        os.kill(os.getpid(), signum)
        await trio.testing.wait_all_tasks_blocked()


async def _built() -> str:
    return "tree"


@attrs.define(kw_only=True, eq=False)
class Scripted:
    """A `Command` that records, with the virtual time, what its lifetime asks of it.

    `starting` is the start-up; `running` runs before `run` registers its stop
    (None: registers at once). Once stopped, `run` takes `GRACE` seconds.
    """

    first: FirstSignal = FirstSignal.STOPS
    starting: Callable[[], Awaitable[str | Refused]] = _built
    before_running: Callable[[], Awaitable[None]] | None = None
    abandoning: Callable[[], Awaitable[None]] | None = None
    ignores_stop: bool = False
    code: int = 0
    calls: list[tuple[float, str]] = attrs.field(factory=list)
    _stop: trio.Event = attrs.field(factory=trio.Event)

    def _note(self, what: str) -> None:
        self.calls.append((trio.current_time(), what))

    @property
    def first_signal(self) -> FirstSignal:
        return self.first

    async def start(self) -> str | Refused:
        self._note("start")
        return await self.starting()

    async def abandon(self, started: str | None, signum: int) -> None:
        self._note(f"abandon {started} {signal_name(signum)}")
        if self.abandoning is not None:
            try:
                await self.abandoning()
            except trio.Cancelled:
                self._note("abandon cancelled")
                raise

    async def run(self, started: str, life: Lifetime) -> int:
        self._note(f"run {started}")
        if self.before_running is not None:
            await self.before_running()
        life.running(self.stop)
        try:
            with trio.move_on_after(RUNS_FOR):
                await self._stop.wait()
                if not self.ignores_stop:
                    await trio.sleep(GRACE)
                    self._note("stopped")
                    return self.code
                await trio.sleep_forever()
        except trio.Cancelled:
            self._note("cancelled")
            raise
        self._note("finished")
        return self.code

    def stop(self) -> None:
        self._note("stop")
        self._stop.set()

    def stopped_immediately(self, signum: int, *, first_acted_on: bool) -> None:
        self._note(f"immediate {signal_name(signum)}{' (told)' if first_acted_on else ''}")


async def test_a_run_without_signals_returns_the_commands_code(autojump_clock: object) -> None:
    command = Scripted(code=7)
    assert await live(command) == 7
    assert command.calls == [(0.0, "start"), (0.0, "run tree"), (RUNS_FOR, "finished")]


async def test_a_refusal_is_its_exit_code_and_nothing_runs(autojump_clock: object) -> None:
    async def refuse() -> Refused:
        await trio.sleep(1)
        return Refused(3)

    command = Scripted(starting=refuse)
    assert await live(command) == 3
    assert command.calls == [(0.0, "start")]


@pytest.mark.parametrize(
    ("first", "signum", "code"),
    [
        (FirstSignal.STOPS, signal.SIGTERM, 0),
        (FirstSignal.STOPS, signal.SIGINT, 0),
        (FirstSignal.INTERRUPTS, signal.SIGTERM, 143),
        (FirstSignal.INTERRUPTS, signal.SIGINT, 130),
    ],
)
async def test_a_first_signal_abandons_start_up(
    autojump_clock: object, first: FirstSignal, signum: int, code: int
) -> None:
    async def slow_start() -> str:
        await trio.sleep(2)
        await _signal(signum)
        await trio.sleep(100)  # cancelled: never returns
        raise AssertionError("start-up was not abandoned")

    command = Scripted(first=first, starting=slow_start)
    assert await live(command) == code
    name = signal_name(signum)
    assert command.calls == [(0.0, "start"), (2.0, f"abandon None {name}")]


async def test_a_signal_during_start_up_wins_over_what_it_built(autojump_clock: object) -> None:
    async def start_that_finishes() -> str:
        await _signal(signal.SIGTERM)  # shielded: start-up goes on to the end
        return "tree"

    command = Scripted(starting=start_that_finishes)
    assert await live(command) == 0
    assert command.calls == [(0.0, "start"), (0.0, "abandon tree SIGTERM")]


async def test_a_signal_during_a_refused_start_up_abandons_nothing(
    autojump_clock: object,
) -> None:
    async def refuse() -> Refused:
        await _signal(signal.SIGINT)
        return Refused(1)

    command = Scripted(first=FirstSignal.INTERRUPTS, starting=refuse)
    assert await live(command) == 130
    assert command.calls == [(0.0, "start"), (0.0, "abandon None SIGINT")]


@pytest.mark.parametrize(("first", "code"), [(FirstSignal.STOPS, 5), (FirstSignal.INTERRUPTS, 143)])
async def test_a_first_signal_while_running_stops_gracefully(
    autojump_clock: object, first: FirstSignal, code: int
) -> None:
    command = Scripted(first=first, code=5)

    async def main() -> int:
        async with trio.open_nursery() as nursery:
            results: list[int] = []

            async def run() -> None:
                results.append(await live(command))

            nursery.start_soon(run)
            await trio.sleep(3)
            await _signal(signal.SIGTERM)
        return results[0]

    assert await main() == code
    assert command.calls == [
        (0.0, "start"),
        (0.0, "run tree"),
        (3.0, "stop"),
        (3.0 + GRACE, "stopped"),
    ]


async def test_a_signal_before_running_is_acted_on_when_it_starts(
    autojump_clock: object,
) -> None:
    async def signal_first() -> None:
        await trio.sleep(1)
        await _signal(signal.SIGINT)  # start-up is over, nothing to stop yet
        await trio.sleep(1)

    command = Scripted(before_running=signal_first)
    assert await live(command) == 0
    assert command.calls == [
        (0.0, "start"),
        (0.0, "run tree"),
        (2.0, "stop"),  # once, when there is something to stop
        (2.0 + GRACE, "stopped"),
    ]


async def test_a_second_signal_stops_at_once(autojump_clock: object) -> None:
    command = Scripted(ignores_stop=True)

    async def main() -> int:
        async with trio.open_nursery() as nursery:
            results: list[int] = []

            async def run() -> None:
                results.append(await live(command))

            nursery.start_soon(run)
            await trio.sleep(1)
            await _signal(signal.SIGTERM)
            await trio.sleep(2)
            await _signal(signal.SIGINT)
        return results[0]

    assert await main() == SIGNAL_EXIT_BASE + signal.SIGINT == 130
    assert command.calls == [
        (0.0, "start"),
        (0.0, "run tree"),
        (1.0, "stop"),
        (3.0, "cancelled"),
        (3.0, "immediate SIGINT (told)"),
    ]


async def test_a_second_signal_during_start_up_is_an_immediate_stop(
    autojump_clock: object,
) -> None:
    async def start_hit_twice() -> str:
        await _signal(signal.SIGINT)
        await _signal(signal.SIGTERM)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    command = Scripted(first=FirstSignal.INTERRUPTS, starting=start_hit_twice)
    assert await live(command) == 143
    assert command.calls == [(0.0, "start"), (0.0, "immediate SIGTERM")]  # nothing abandoned


async def test_a_second_signal_while_abandoning_start_up_is_an_immediate_stop(
    autojump_clock: object,
) -> None:
    async def signalled_start() -> str:
        await trio.sleep(1)
        await _signal(signal.SIGINT)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def slow_release() -> None:
        await trio.sleep(2)
        await _signal(signal.SIGTERM)
        await trio.sleep(60)

    command = Scripted(starting=signalled_start, abandoning=slow_release)
    assert await live(command) == 143
    assert command.calls == [
        (0.0, "start"),
        (1.0, "abandon None SIGINT"),
        (3.0, "abandon cancelled"),
        (3.0, "immediate SIGTERM (told)"),
    ]


async def test_a_signal_before_trio_abandons_start_up_before_it_runs(
    autojump_clock: object,
) -> None:
    async def must_not_run() -> str:
        await trio.lowlevel.checkpoint()  # already cancelled here
        raise AssertionError("start-up ran")

    command = Scripted(starting=must_not_run)
    assert await live(command, early_signals=[signal.SIGTERM]) == 0
    assert command.calls == [(0.0, "start"), (0.0, "abandon None SIGTERM")]


async def test_two_signals_before_trio_are_an_immediate_stop(autojump_clock: object) -> None:
    command = Scripted()
    assert await live(command, early_signals=[signal.SIGTERM, signal.SIGINT]) == 130
    assert command.calls == [(0.0, "start"), (0.0, "immediate SIGINT")]


async def test_an_early_signal_and_a_live_one_are_an_immediate_stop(
    autojump_clock: object,
) -> None:
    async def hit_again() -> str:
        await _signal(signal.SIGTERM)  # the second, counted after the replayed one
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    command = Scripted(starting=hit_again)
    assert await live(command, early_signals=[signal.SIGINT]) == 143
    assert command.calls == [(0.0, "start"), (0.0, "immediate SIGTERM")]


async def test_an_error_from_the_command_propagates_unwrapped(autojump_clock: object) -> None:
    async def broken() -> str:
        raise LookupError("a bug in start-up")

    with pytest.raises(LookupError, match="a bug in start-up"):
        await live(Scripted(starting=broken))


def test_run_command_runs_trio_and_restores_the_handlers() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    async def signalled_start() -> str:
        await _signal(signal.SIGTERM)  # handled by the lifetime, not the default
        return "tree"

    command = Scripted(starting=signalled_start, code=9)
    assert run_command(command) == 0
    assert [what for _, what in command.calls] == ["start", "abandon tree SIGTERM"]
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_signals_recorded_records_instead_of_raising_and_restores() -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with signals_recorded() as received:
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # would end the process
    assert received == [signal.SIGINT, signal.SIGTERM]
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_signal_names_and_exit_codes() -> None:
    assert (signal_name(signal.SIGTERM), signal_exit_code(signal.SIGTERM)) == ("SIGTERM", 143)
    assert (signal_name(signal.SIGINT), signal_exit_code(signal.SIGINT)) == ("SIGINT", 130)
    assert signal_name(1000) == "1000"
