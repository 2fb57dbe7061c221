"""run_until_signalled: first SIGINT/SIGTERM graceful, second immediate."""

from __future__ import annotations

import os
import signal

import pytest
import trio
from runtime_helpers import Journal, clean_up_for, ignore_stop, spec

from autobot.runtime import SignalOutcome, Supervisor, run_until_signalled


def _kill_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_first_signal_stops_gracefully(autojump_clock: object, signum: int) -> None:
    journal, seen = Journal(), []
    sup = Supervisor(children=[spec("a", journal, clean_up_for(1))])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            _kill_self(signum)

    def on_first(received: int) -> None:
        seen.append(received)
        sup.stop()

    outcome = await run_until_signalled(main, on_first=on_first)
    assert outcome is SignalOutcome.GRACEFUL
    assert seen == [signum]
    assert journal.of("returned") == [(1.0, "a", 0)]  # the child finished its clean-up


async def test_second_signal_cancels_immediately(autojump_clock: object) -> None:
    journal, seconds = Journal(), list[int]()
    sup = Supervisor(children=[spec("stuck", journal, ignore_stop, grace=100.0)])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            _kill_self(signal.SIGTERM)
            await trio.sleep(1)
            _kill_self(signal.SIGINT)
            await trio.sleep_forever()

    outcome = await run_until_signalled(
        main, on_first=lambda _: sup.stop(), on_second=seconds.append
    )
    assert outcome is SignalOutcome.IMMEDIATE
    assert seconds == [signal.SIGINT]
    assert journal.of("cancelled") == [(1.0, "stuck", 0)]  # long before its 100 s grace
    assert trio.current_time() == 1.0


async def test_main_finishing_on_its_own(autojump_clock: object) -> None:
    async def main() -> None:
        await trio.sleep(3)

    outcome = await run_until_signalled(main, on_first=lambda _: None)
    assert outcome is SignalOutcome.FINISHED
    assert trio.current_time() == 3.0


async def test_an_error_from_main_propagates_unwrapped(autojump_clock: object) -> None:
    async def main() -> None:
        raise LookupError("gateway failed")

    with pytest.raises(LookupError, match="gateway failed"):
        await run_until_signalled(main, on_first=lambda _: None)
