"""Playing the scenario through the Bot API stand-in, one step at a time.

`Player.play(step)` posts the step's message the way a Telegram app would
(with its mention entities), waits until the bot has done what the step
expects, checks that it did exactly that, and returns the `Outcome`: what
the bot sent in that chat (as the stand-in recorded it, so as the user sees
it) and the tool calls of the model's turn. Timeouts belong to the caller.

How the end of each kind of step is known:
- ANSWER: `ModelLog` (the demo model: the brain, recording each turn's final
  reply) says what the model answered; the answer is complete once the chat
  holds as many new messages as that reply makes in Telegram (the channel's
  own `render_markdown` and `split_rendered`), and they must be those parts.
  A message that comes before the model answered this step is not the
  model's (the agent's apology for a failed turn, say): the step fails.
- DENIAL and SILENCE: the step ends once the stand-in has no unconfirmed
  update left, i.e. the bot polled past the message. Before that poll the
  channel has sent any refusal reply (DENIAL: exactly one message; SILENCE:
  none) and journaled whatever it let in, so its count of journaled messages
  must not have moved; and no model request may carry the message's text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import trio

from autobot.channels.telegram.chunks import split_rendered
from autobot.channels.telegram.render import render_markdown
from autobot.demo import brain
from autobot.demo.conversation import Exchange, NotAConversation, current_turn
from autobot.demo.errors import DemoFailed
from autobot.demo.scenario import Expect, Step
from autobot.testing.fake_telegram import FakeTelegram
from autobot.testing.llm_script import FakeLLM, ScriptedReply
from autobot.testing.telegram.records import SentMessage


@attrs.define(kw_only=True, eq=False)
class ModelLog:
    """The demo model's handler: answers with `brain.answer` and keeps each
    turn's final reply as (the turn's user text, the reply), in order."""

    finals: list[tuple[str, str]] = attrs.field(factory=list)

    def answer(self, request: Mapping[str, Any]) -> ScriptedReply:
        """The brain's answer to `request`; raises as `brain.answer`."""
        reply = brain.answer(request)
        if request.get("tools") and not reply.tool_calls:
            self.finals.append((current_turn(request).user_text, reply.text))
        return reply

    def final_for(self, text: str, *, since: int) -> str | None:
        """The last final reply, among those recorded from index `since`, to a
        turn whose user text ends with `text` (a group message arrives with a
        note naming its sender before it)."""
        for user_text, reply in reversed(self.finals[since:]):
            if user_text.endswith(text):
                return reply
        return None


@attrs.frozen(kw_only=True)
class Outcome:
    """One played step: the id of the message the user posted, what the bot
    sent in that chat since, and the tool calls of the model's turn."""

    step: Step
    posted_id: int
    sent: tuple[SentMessage, ...]
    exchanges: tuple[Exchange, ...] = ()


def telegram_parts(reply: str) -> list[str]:
    """The texts of the messages `reply` becomes in Telegram, in order."""
    return [chunk.text for chunk in split_rendered(render_markdown(reply))]


@attrs.define(kw_only=True, eq=False)
class Player:
    """Plays steps as their senders through `telegram`; reads what the model
    was asked from `model`, what it answered from `log`, and how many messages
    the Telegram channel has journaled so far from `journaled`."""

    telegram: FakeTelegram
    model: FakeLLM
    log: ModelLog
    journaled: Callable[[], int]
    # Rendering a long reply takes milliseconds: off the event loop, one at a time.
    render_limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def play(self, step: Step) -> Outcome:
        """Post `step`'s message and wait for its outcome. Raises `DemoFailed`
        when the bot does something other than `step.expect`."""
        chat_id = step.where.id
        sent_before = len(self.telegram.messages_in(chat_id))
        finals_before = len(self.log.finals)
        requests_before = len(self.model.requests)
        journaled_before = self.journaled()
        posted = self.telegram.post_text(step.sender, step.text, chat=step.chat)

        def new_messages() -> list[SentMessage]:
            return self.telegram.messages_in(chat_id)[sent_before:]

        exchanges: tuple[Exchange, ...] = ()
        if step.expect is Expect.ANSWER:
            await self.telegram.until(lambda: bool(new_messages()))
            reply = self.log.final_for(step.text, since=finals_before)
            if reply is None:
                raise DemoFailed(
                    f"the bot answered {step.text!r} with {new_messages()[0].text!r}, "
                    "not with the model's reply"
                )
            parts = await trio.to_thread.run_sync(
                telegram_parts, reply, limiter=self.render_limiter
            )
            await self.telegram.until(lambda: len(new_messages()) >= len(parts))
            if [message.text for message in new_messages()] != parts:
                raise DemoFailed(f"what the bot sent for {step.text!r} is not the model's reply")
            exchanges = self._exchanges(step.text, since=requests_before)
        else:
            # A refusal's reply is sent before the poll that confirms the update.
            await self.telegram.until(lambda: not self.telegram.pending_update_ids)
            if self.journaled() != journaled_before:
                raise DemoFailed(f"the bot took {step.text!r} in: it was journaled for the model")
            self._check_unseen(step, since=requests_before)
            expected = 1 if step.expect is Expect.DENIAL else 0
            if len(new_messages()) != expected:
                raise DemoFailed(
                    f"expected {expected} message(s) from the bot after {step.text!r}, "
                    f"got {len(new_messages())}"
                )
        return Outcome(
            step=step,
            posted_id=posted["message_id"],
            sent=tuple(new_messages()),
            exchanges=exchanges,
        )

    def _check_unseen(self, step: Step, *, since: int) -> None:
        """No model request since `since` carried `step.text`."""
        for request in self.model.requests[since:]:
            if any(step.text in text for text in _strings(request.json())):
                raise DemoFailed(f"the model was sent {step.text!r}, which it must never see")

    def _exchanges(self, text: str, *, since: int) -> tuple[Exchange, ...]:
        """The tool calls of the turn for `text`, as the model last saw them
        (the newest request of that turn carries every result)."""
        for request in reversed(self.model.requests[since:]):
            body = request.json()
            if not body.get("tools"):
                continue  # memory consolidation, not a turn
            try:
                turn = current_turn(body)
            except NotAConversation:
                continue
            if turn.user_text.endswith(text):
                return turn.exchanges
        return ()


def _strings(value: object) -> list[str]:
    """Every string inside a decoded JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
