"""Run the gateway until SIGINT/SIGTERM: first signal graceful, second immediate."""

from __future__ import annotations

import enum
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

import trio

DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalOutcome(enum.Enum):
    """How `run_until_signalled` ended."""

    FINISHED = "finished"  # main returned with no signal
    GRACEFUL = "graceful"  # one signal: on_first asked main to stop, and it did
    IMMEDIATE = "immediate"  # a second signal cancelled main


def _ignore_signal(signum: int) -> None:
    """The default `on_second`: do nothing."""


async def run_until_signalled(
    main: Callable[[], Awaitable[object]],
    *,
    on_first: Callable[[int], None],
    on_second: Callable[[int], None] = _ignore_signal,
    signals: Iterable[int] = DEFAULT_SIGNALS,
) -> SignalOutcome:
    """Await `main()` while watching `signals` (must run in the main thread).

    The first signal calls `on_first(signum)` (e.g. `lambda _: supervisor.stop()`) and
    main is expected to finish gracefully; a second one calls `on_second(signum)` and
    cancels main. An exception from main propagates unchanged (not in a group).
    """
    signalled = 0
    failure: Exception | None = None

    async def watch(receiver: AsyncIterator[int], cancel: trio.CancelScope) -> None:
        nonlocal signalled
        async for signum in receiver:
            signalled += 1
            if signalled == 1:
                on_first(signum)
            else:
                on_second(signum)
                cancel.cancel(f"second signal {signum}: immediate stop")
                return

    with trio.open_signal_receiver(*signals) as receiver:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, receiver, nursery.cancel_scope)
            try:
                await main()
            except Exception as exc:  # noqa: BLE001 - re-raised below
                failure = exc  # re-raised below, outside the nursery's group
            nursery.cancel_scope.cancel("main finished: stop watching signals")
    if failure is not None:
        raise failure
    if signalled == 0:
        return SignalOutcome.FINISHED
    return SignalOutcome.GRACEFUL if signalled == 1 else SignalOutcome.IMMEDIATE
