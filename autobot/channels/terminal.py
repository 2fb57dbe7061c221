"""The terminal channel behind `autobot agent`: stdin in, stdout out, as a channel actor.

`terminal_channel` is the terminal's `ChannelSpec`: a temporary child of the
channel supervisor (it ends with its conversation and is never started
again). Its actor, `TerminalChannel`, turns what the user types into
`InboundMessage`s for the session router and prints every `OutboundMessage`
of its conversation from its own outbound mailbox. With a message (`-m`) it
sends it, then prints the progress messages and the turn's final reply;
without one it chats until EOF, `exit` or `quit`, then waits for the replies
still owed. It ends early when its command hangs up (the user interrupted)
or when the tree stops it.

How the conversation ended (`TerminalOutcome`) is sent once, on a one-shot
channel whose receive side the command owns; the command then stops the
tree. Lines are read in a worker thread (a blocking `readline` cannot be
cancelled, so the thread is abandoned on cancellation).
"""

from __future__ import annotations

from typing import TextIO

import attrs
import trio
from trio_util import move_on_when, wait_any

from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.spec import ChannelEnv, ChannelSpec
from autobot.runtime import Restart

EXIT_WORDS = frozenset({"exit", "quit"})
PROMPT = "you> "
REPLY_PREFIX = "autobot> "
SENDER_ID = "cli"
# One blocking `readline` at a time: a second thread would race the first
# (even an abandoned one, still blocked in it) for the same lines of stdin.
STDIN_READERS = 1


@attrs.frozen(kw_only=True)
class TerminalOutcome:
    """How one terminal conversation ended.

    `failure` is set when the `-m` turn ended in an apology: its log-safe
    reason (e.g. `anthropic: HTTP 401 authentication_error`), for the
    owner's terminal only. `interrupted` means the conversation was cut
    short (hung up, or stopped by the tree) before it ended.
    """

    failure: str | None = None
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 for a conversation that ended as asked, 1 otherwise."""
        return 1 if self.failure is not None or self.interrupted else 0


def terminal_channel(
    *,
    name: str,
    chat_id: str,
    message: str | None,
    stdin: TextIO,
    stdout: TextIO,
    outcome: trio.MemorySendChannel[TerminalOutcome],
    hang_up: trio.Event,
) -> ChannelSpec:
    """The terminal as channel `name`, talking in chat `chat_id`: one message
    (`-m`) or, with `message` None, an interactive chat.

    `outcome` is the send side of the command's one-shot channel: the
    incarnation reports on a clone of its own and closes it when it ends,
    so once the command has closed `outcome` too, the end of the channel
    without a value means the terminal stopped without reporting (a bug).
    The command sets `hang_up` to cut the conversation short.
    """
    launcher = TerminalLauncher(
        chat_id=chat_id,
        message=message,
        stdin=stdin,
        stdout=stdout,
        outcome=outcome,
        hang_up=hang_up,
        reader=trio.CapacityLimiter(STDIN_READERS),
    )
    return ChannelSpec(name=name, factory=launcher, restart=Restart.TEMPORARY)


@attrs.frozen(kw_only=True)
class TerminalLauncher:
    """The terminal's `ChannelSpec.factory`: what every incarnation shares (the
    terminal's streams, the stdin reader limit, the command's handles).
    Raises trio.ClosedResourceError once the command closed `outcome`."""

    chat_id: str
    message: str | None
    stdin: TextIO
    stdout: TextIO
    outcome: trio.MemorySendChannel[TerminalOutcome]
    hang_up: trio.Event
    reader: trio.CapacityLimiter

    def __call__(self, env: ChannelEnv) -> TerminalChannel:
        return TerminalChannel(launcher=self, env=env, outcome=self.outcome.clone())


@attrs.define(kw_only=True, eq=False)
class TerminalChannel:
    """One incarnation of the terminal: the conversation `env.name:chat_id`.

    Owns (and closes when it ends) its `outcome` clone and the `env`'s outbox
    and router sender. Replies for another chat of its channel (the message
    tool may address one) are not shown: each is logged with a WARN.
    """

    launcher: TerminalLauncher
    env: ChannelEnv
    outcome: trio.MemorySendChannel[TerminalOutcome]
    _owed: int = attrs.field(init=False, default=0)
    _settled: trio.Event = attrs.field(init=False, factory=trio.Event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Ready at once; converse until the conversation ends, the command hangs
        up or the supervisor asks it to stop; report how it ended and return."""
        with self.outcome, self.env.outbox, self.env.router:
            health = self.env.health
            health.mark_up(trio.current_time())
            task_status.started()
            ended = TerminalOutcome(interrupted=True)
            async with move_on_when(wait_any, self.launcher.hang_up.wait, self.env.stopping.wait):
                ended = await self._converse()
            health.mark_stopped(trio.current_time(), "the conversation ended")
            self.outcome.send_nowait(ended)  # the only value ever sent: never blocks

    async def _converse(self) -> TerminalOutcome:
        if self.launcher.message is not None:
            return await self._ask_once(self.launcher.message)
        await self._chat()
        return TerminalOutcome()

    def _print(self, text: str) -> None:
        self.launcher.stdout.write(text + "\n")
        self.launcher.stdout.flush()
        self.env.health.messages_out += 1

    def _shows(self, message: OutboundMessage) -> bool:
        """Whether `message` belongs to this conversation (else it is logged)."""
        if message.chat_id == self.launcher.chat_id:
            return True
        self.env.health.send_failures += 1
        self.env.logger.warn(
            f"{self.env.name} reply not shown: the terminal shows chat "
            f"{self.launcher.chat_id!r} only",
            chat_id=message.chat_id,
        )
        return False

    async def _send(self, text: str) -> None:
        self.env.health.messages_in += 1
        await self.env.router.send(
            InboundMessage(
                channel=self.env.name,
                chat_id=self.launcher.chat_id,
                content=text,
                sender_id=SENDER_ID,
            )
        )

    async def _ask_once(self, text: str) -> TerminalOutcome:
        """Send `text`; print progress messages, then the final reply."""
        await self._send(text)
        async for message in self.env.outbox:
            if not self._shows(message):
                continue
            self._print(message.content)
            if message.final and message.is_error:
                return TerminalOutcome(failure=message.failure or "unknown error")
            if message.final:
                return TerminalOutcome()
        return TerminalOutcome(interrupted=True)  # the mailbox closed before the reply

    async def _chat(self) -> None:
        """Interactive chat until EOF, `exit` or `quit`; returns once every reply
        owed for what was typed has been printed."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._print_replies)
            while True:
                self.launcher.stdout.write(PROMPT)
                self.launcher.stdout.flush()
                line = await trio.to_thread.run_sync(
                    self.launcher.stdin.readline,
                    limiter=self.launcher.reader,
                    abandon_on_cancel=True,
                )
                text = line.strip()
                if not line or text.lower() in EXIT_WORDS:
                    break
                if text:
                    self._owed += 1
                    self._settled = trio.Event()
                    await self._send(text)
            if self._owed > 0:
                await self._settled.wait()
            nursery.cancel_scope.cancel("terminal chat ended")

    async def _print_replies(self) -> None:
        async for message in self.env.outbox:
            if not self._shows(message):
                continue
            self._print(REPLY_PREFIX + message.content)
            if message.final:
                self._owed = max(0, self._owed - 1)  # subagent reports are unasked-for
                if self._owed == 0:
                    self._settled.set()
