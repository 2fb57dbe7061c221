"""The terminal channel actor on its own: what it sends to the router, what it
prints, how it reports the end of its conversation, and how it is cut short.

Stdin is read in a real worker thread; the interruption tests block it on a
real pipe that has no data, as a terminal would."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from typing import TextIO

import attrs
import pytest
import trio

from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.health import ChannelHealth
from autobot.channels.spec import ChannelEnv
from autobot.channels.terminal import (
    PROMPT,
    REPLY_PREFIX,
    STDIN_READERS,
    TerminalChannel,
    TerminalOutcome,
    terminal_channel,
)
from autobot.logs.actor import open_log_mailbox
from autobot.logs.records import Level, LogRecord
from autobot.runtime import Restart

BOUND = 30.0  # real threads on a loaded machine: generous, never asserted
ROUTED_SIZE = 8  # a test sends a handful of lines at most
REPLIES_SIZE = 8  # and queues a handful of replies at most
OUTCOME_SIZE = 1  # as the agent command's: one outcome per conversation


class Screen(io.StringIO):
    """A stdout that can be waited on until it shows some text (writes come
    from the actor's task, so a Trio event is safe)."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = trio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self._changed.set()
        self._changed = trio.Event()
        return written

    async def shows(self, text: str, times: int = 1) -> None:
        while self.getvalue().count(text) < times:
            await self._changed.wait()


@attrs.define(kw_only=True, eq=False)
class Terminal:
    """One terminal actor and the test's ends of everything it talks to."""

    actor: TerminalChannel
    screen: Screen
    routed: trio.MemoryReceiveChannel[InboundMessage]
    replies: trio.MemorySendChannel[OutboundMessage]
    outcomes: trio.MemoryReceiveChannel[TerminalOutcome]
    hang_up: trio.Event
    stopping: trio.Event
    health: ChannelHealth
    logs: trio.MemoryReceiveChannel[LogRecord]

    def reply(
        self,
        content: str,
        *,
        chat_id: str = "x",
        final: bool = False,
        is_error: bool = False,
        failure: str | None = None,
    ) -> None:
        self.replies.send_nowait(
            OutboundMessage(
                channel="cli",
                chat_id=chat_id,
                content=content,
                final=final,
                is_error=is_error,
                failure=failure,
            )
        )

    def records(self) -> list[LogRecord]:
        found = []
        while True:
            try:
                found.append(self.logs.receive_nowait())
            except trio.WouldBlock:
                return found


def _terminal(stdin: TextIO, message: str | None = None) -> Terminal:
    """The actor as `terminal_channel`'s factory builds it; the test's copy of
    the outcome sender is closed at once, as the command does once the tree is up."""
    outcome_sender, outcomes = trio.open_memory_channel[TerminalOutcome](OUTCOME_SIZE)
    to_router, routed = trio.open_memory_channel[InboundMessage](ROUTED_SIZE)
    replies, outbox = trio.open_memory_channel[OutboundMessage](REPLIES_SIZE)
    logger, logs = open_log_mailbox("test")
    screen, hang_up, stopping = Screen(), trio.Event(), trio.Event()
    health = ChannelHealth(name="cli")
    spec = terminal_channel(
        name="cli",
        chat_id="x",
        message=message,
        stdin=stdin,
        stdout=screen,
        outcome=outcome_sender,
        hang_up=hang_up,
    )
    assert spec.restart is Restart.TEMPORARY
    env = ChannelEnv(
        name="cli",
        outbox=outbox,
        router=to_router,
        health=health,
        logger=logger,
        stopping=stopping,
        rng=random.Random(0),
    )
    actor = spec.factory(env)
    assert isinstance(actor, TerminalChannel)
    outcome_sender.close()
    return Terminal(
        actor=actor,
        screen=screen,
        routed=routed,
        replies=replies,
        outcomes=outcomes,
        hang_up=hang_up,
        stopping=stopping,
        health=health,
        logs=logs,
    )


@pytest.fixture
def silent_stdin() -> Iterator[TextIO]:
    """A stdin on a real pipe that never has a line: `readline` blocks its
    thread. Closing the write end afterwards lets the abandoned thread end."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as stdin:
        try:
            yield stdin
        finally:
            os.close(write_fd)


async def test_one_message_prints_progress_and_the_final_reply() -> None:
    terminal = _terminal(io.StringIO(), message="what time is it?")
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
            assert await terminal.routed.receive() == InboundMessage(
                channel="cli", chat_id="x", content="what time is it?", sender_id="cli"
            )
            terminal.reply("looking at the clock")
            terminal.reply("for someone else", chat_id="y", final=True)
            terminal.reply("noon", final=True)
        assert await terminal.outcomes.receive() == TerminalOutcome()
        with pytest.raises(trio.EndOfChannel):  # reported once, then closed
            await terminal.outcomes.receive()
        with pytest.raises(trio.EndOfChannel):  # its router sender is closed too
            await terminal.routed.receive()
    assert terminal.screen.getvalue() == "looking at the clock\nnoon\n"
    with pytest.raises(trio.BrokenResourceError):  # and its outbox
        terminal.reply("too late")
    [warning] = [r for r in terminal.records() if r.level is Level.WARN]
    assert warning.message == "cli reply not shown: the terminal shows chat 'x' only"
    assert warning.fields == (("chat_id", "y"),)
    health = terminal.health.snapshot()
    assert (health.messages_in, health.messages_out, health.send_failures) == (1, 2, 1)
    assert health.stopped and health.reason == "the conversation ended"


@pytest.mark.parametrize(
    ("failure", "reported"),
    [
        ("anthropic: HTTP 401 authentication_error", "anthropic: HTTP 401 authentication_error"),
        (None, "unknown error"),
    ],
)
async def test_an_apology_ends_the_message_with_its_reason(
    failure: str | None, reported: str
) -> None:
    terminal = _terminal(io.StringIO(), message="hi")
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
            await terminal.routed.receive()
            terminal.reply(
                "Sorry, something went wrong.", final=True, is_error=True, failure=failure
            )
        outcome = await terminal.outcomes.receive()
    assert outcome == TerminalOutcome(failure=reported)
    assert outcome.exit_code == 1
    assert terminal.screen.getvalue() == "Sorry, something went wrong.\n"


async def test_a_chat_sends_each_line_until_exit_and_prints_the_replies_owed() -> None:
    terminal = _terminal(io.StringIO("hi\n\n   \nagain\n  Exit \nnever sent\n"))
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
            assert (await terminal.routed.receive()).content == "hi"
            assert (await terminal.routed.receive()).content == "again"
            await terminal.screen.shows(PROMPT, times=5)  # read up to "exit"
            terminal.reply("one", final=True)
            terminal.reply("thinking...")
            terminal.reply("two", final=True)
        assert await terminal.outcomes.receive() == TerminalOutcome()
    assert terminal.screen.getvalue() == PROMPT * 5 + "".join(
        f"{REPLY_PREFIX}{text}\n" for text in ("one", "thinking...", "two")
    )
    with pytest.raises(trio.EndOfChannel):  # "never sent" was not
        await terminal.routed.receive()


async def test_end_of_input_waits_for_the_reply_still_owed() -> None:
    terminal = _terminal(io.StringIO("quit?\n"))  # not an exit word
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
            assert (await terminal.routed.receive()).content == "quit?"
            await terminal.screen.shows(PROMPT, times=2)  # then EOF
            assert terminal.outcomes.statistics().current_buffer_used == 0  # still owed
            terminal.reply("it is not", final=True)
        assert await terminal.outcomes.receive() == TerminalOutcome()
    assert terminal.screen.getvalue().endswith(f"{REPLY_PREFIX}it is not\n")


@pytest.mark.parametrize("cut", ["hang_up", "stopping"])
async def test_a_chat_blocked_on_stdin_is_cut_short(silent_stdin: TextIO, cut: str) -> None:
    terminal = _terminal(silent_stdin)
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
            await terminal.screen.shows(PROMPT)  # its thread is blocked in readline
            getattr(terminal, cut).set()
        outcome = await terminal.outcomes.receive()
    assert outcome == TerminalOutcome(interrupted=True)
    assert outcome.exit_code == 1
    assert terminal.screen.getvalue() == PROMPT
    assert terminal.actor.launcher.reader.total_tokens == STDIN_READERS


async def test_a_hang_up_during_a_turn_prints_nothing_more() -> None:
    terminal = _terminal(io.StringIO(), message="slow question")
    with trio.fail_after(BOUND):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
            await terminal.routed.receive()
            terminal.reply("working on it")
            await terminal.screen.shows("working on it")
            terminal.hang_up.set()
        assert await terminal.outcomes.receive() == TerminalOutcome(interrupted=True)
    with pytest.raises(trio.BrokenResourceError):  # the late reply has nowhere to go
        terminal.reply("the answer", final=True)
    assert terminal.screen.getvalue() == "working on it\n"


class BrokenScreen(io.StringIO):
    """A stdout whose reader went away (`autobot agent | true`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_a_terminal_that_fails_reports_nothing_and_closes_its_outcome() -> None:
    terminal = _terminal(io.StringIO("hi\n"))
    terminal = attrs.evolve(
        terminal,
        actor=attrs.evolve(
            terminal.actor,
            launcher=attrs.evolve(terminal.actor.launcher, stdout=BrokenScreen()),
        ),
    )
    with trio.fail_after(BOUND), pytest.RaisesGroup(BrokenPipeError, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(terminal.actor.run)
    with pytest.raises(trio.EndOfChannel):  # the command learns it ended unreported
        await terminal.outcomes.receive()
