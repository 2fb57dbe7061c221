"""How the Telegram channel delivers replies, judged by what the Bot API fake recorded.

Replies go into the channel's mailbox as a session would send them
(`autobot.testing.telegram_channel`); the fake checks every sendMessage as
the real API does (4096 UTF-16 units, entities inside the text and never
splitting a surrogate pair, reply targets, forum topics) and records what a
user would see. Covered: long replies with emoji and code blocks split into
valid chunks, the plain-text fallback when formatting is refused, 429
retry_after and 5xx retries at exact virtual times, a user who blocked the
bot, the typing indicator while a slow turn runs, forum topics and quoting.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.base import InboundMessage, OutboundMessage
from autobot.channels.telegram.actor import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    SEND_ATTEMPTS,
    TYPING_REFRESH_SECONDS,
)
from autobot.channels.telegram.render import render_markdown
from autobot.logs.records import Level
from autobot.runtime import backoff_delay
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.telegram.entities import utf16_len
from autobot.testing.telegram.faults import Fault
from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram.records import SentMessage
from autobot.testing.telegram_channel import (
    TelegramRun,
    channel_config,
    patient_clock,
    run_telegram_channel,
)

SEED = 7
STEP_SECONDS = 30.0  # generous bound for one exchange in real time
MAX_UNITS = 4096
ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob", username="bob_b")
FORUM = TelegramChat(id=-1002000, type="supergroup", title="Forum", is_forum=True)
BOT_HANDLE = "@autobot_test_bot"
MARKER = "end of mailbox"  # a reply that says everything sent before it was delivered


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[TelegramRun]:
    async with serve_fake_telegram() as fake:
        config = channel_config(fake, allow_from=("1001", "1002"), group_allow_from=("*",))
        async with run_telegram_channel(
            config, fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            yield run


async def message_from(
    run: TelegramRun,
    user: TelegramUser,
    text: str,
    *,
    chat: TelegramChat | None = None,
    thread_id: int | None = None,
) -> InboundMessage:
    """`user` writes `text`; what the router receives for it."""
    run.telegram.post_text(user, text, chat=chat, thread_id=thread_id)
    with trio.fail_after(STEP_SECONDS):
        return await run.routed.receive()


async def delivered_so_far(run: TelegramRun, chat_id: int) -> list[SentMessage]:
    """Everything sent to `chat_id` once the mailbox holds nothing older than
    a marker sent now (the channel delivers its mailbox in order)."""
    marker = f"{MARKER} {len(run.telegram.messages_in(chat_id))}"  # new in this chat
    await run.outbox.send(OutboundMessage(channel="telegram", chat_id=str(chat_id), content=marker))
    with trio.fail_after(STEP_SECONDS):
        await run.telegram.until(
            lambda: any(m.text == marker for m in run.telegram.messages_in(chat_id))
        )
    return [m for m in run.telegram.messages_in(chat_id) if not m.text.startswith(MARKER)]


def long_markdown() -> tuple[str, list[str]]:
    """About 16,000 UTF-16 units of Markdown thick with emoji (surrogate pairs,
    ZWJ sequences), 40 bold spans and 5 code blocks; and the code blocks."""
    parts: list[str] = []
    blocks: list[str] = []
    for n in range(40):
        parts.append(f"Paragraph {n} 😀 **bold {n}** " + "🎉 word " * 30 + "👩\u200d👩\u200d👧")
        if n % 8 == 3:
            code = "\n".join(f"line_{n}_{k} = '🐍' * {k}" for k in range(25))
            blocks.append(code)
            parts.append(f"```python\n{code}\n```")
    return "\n\n".join(parts), blocks


async def test_a_long_reply_is_split_into_valid_chunks(tmp_path: Path) -> None:
    markdown, blocks = long_markdown()
    async with running(tmp_path) as run:
        asked = await message_from(run, ALICE, "tell me a lot")
        await run.reply(asked, markdown)
        chunks = await delivered_so_far(run, ALICE.id)
        assert len(chunks) >= 4
        for chunk in chunks:
            assert 0 < utf16_len(chunk.text) <= MAX_UNITS
            chunk.text.encode("utf-8")  # no lone surrogate: no pair was cut
            assert chunk.reply_to_message_id is None and chunk.thread_id is None
        # every code block whole, as one pre entity of one chunk
        pre = [e.covered(c.text) for c in chunks for e in c.entities if e.type == "pre"]
        assert pre == blocks
        # entities point at what they format (the fake checked they are in bounds)
        bold = [e.covered(c.text) for c in chunks for e in c.entities if e.type == "bold"]
        assert bold == [f"bold {n}" for n in range(40)]
        # nothing lost or duplicated, only the whitespace at the cuts
        rendered = render_markdown(markdown)
        assert " ".join(c.text for c in chunks).split() == rendered.text.split()
        # and a cut at the limit would have split a code block: the split avoided it
        spans = [(e.offset, e.offset + e.length) for e in rendered.entities if e.type == "pre"]
        assert any(start < MAX_UNITS < end for start, end in spans)
        # no chunk was refused, nothing fell back to plain text
        assert len(run.telegram.calls_to("sendMessage")) == len(chunks) + 1
        assert run.logged(Level.WARN, "formatting") == []
        assert (run.health.messages_out, run.health.journal_backlog) == (1, 0)


async def test_refused_formatting_falls_back_to_plain_text(tmp_path: Path) -> None:
    async with running(tmp_path) as run:
        asked = await message_from(run, ALICE, "format something")
        run.telegram.fail_next("sendMessage", Fault.cant_parse_entities())
        await run.reply(asked, "**Bold** claim with `code` and [a link](https://example.org)")
        [sent] = await delivered_so_far(run, ALICE.id)
        refused, plain = run.telegram.calls_to("sendMessage")[:2]
        assert refused.arguments.structured("entities")  # the formatted try
        assert plain.arguments.structured("entities") is None
        assert plain.arguments.string("parse_mode") is None
        assert sent.text == "Bold claim with code and a link"
        assert sent.entities == ()
        [warning] = run.logged(Level.WARN, "formatting")
        assert warning.message == "telegram refused the formatting; sending plain text"
        assert run.health.journal_backlog == 0  # delivered: the entry is done


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


async def test_429_on_send_waits_exactly_retry_after(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        asked = await message_from(run, ALICE, "hi")
        run.telegram.fail_next("sendMessage", Fault.too_many_requests(7))
        await run.reply(asked, "hello")
        [sent] = await delivered_so_far(run, ALICE.id)
        limited, retried = (call.at for call in run.telegram.calls_to("sendMessage")[:2])
        assert retried == limited + 7 == sent.at
        assert sent.text == "hello" and run.health.send_failures == 0


async def test_send_failures_back_off_then_give_up_naming_the_chat(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)  # the channel's: only sends draw from it here
    first_sleeps = [backoff_delay(k, BACKOFF_BASE, BACKOFF_CAP, rng) for k in range(2)]
    last_sleeps = [
        backoff_delay(k, BACKOFF_BASE, BACKOFF_CAP, rng) for k in range(SEND_ATTEMPTS - 1)
    ]
    async with running(tmp_path) as run:
        asked = await message_from(run, ALICE, "hi")
        run.telegram.fail_next("sendMessage", Fault.server_error(502, "Bad Gateway"), count=2)
        await run.reply(asked, "first")
        [first] = await delivered_so_far(run, ALICE.id)
        calls = [call.at for call in run.telegram.calls_to("sendMessage")]
        assert calls[:3] == list(itertools.accumulate(first_sleeps, initial=calls[0]))
        assert first.text == "first" and run.health.journal_backlog == 0

        asked = await message_from(run, ALICE, "again")
        run.telegram.fail_next("sendMessage", Fault.dropped_connection(), count=SEND_ATTEMPTS)
        await run.reply(asked, "lost")
        assert [m.text for m in await delivered_so_far(run, ALICE.id)] == ["first"]
        later = [call.at for call in run.telegram.calls_to("sendMessage")][4:]  # after MARKER
        assert later[:SEND_ATTEMPTS] == list(itertools.accumulate(last_sleeps, initial=later[0]))
        [error] = run.logged(Level.ERROR, "not delivered")
        assert dict(error.fields)["chat_id"] == "1001"
        assert run.health.send_failures == 1
        assert run.health.journal_backlog == 1  # not answered: replayed at the next start


async def test_a_user_who_blocked_the_bot_is_logged_once_and_not_retried(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        from_alice = await message_from(run, ALICE, "hi")
        from_bob = await message_from(run, BOB, "hi")
        run.telegram.block_bot(ALICE)
        await run.reply(from_alice, "you blocked me")
        await run.reply(from_bob, "hello Bob")
        assert [m.text for m in await delivered_so_far(run, BOB.id)] == ["hello Bob"]
        await trio.sleep(BACKOFF_CAP)  # longer than any retry would wait
        to_alice = [
            c
            for c in run.telegram.calls_to("sendMessage")
            if c.arguments.integer("chat_id") == ALICE.id
        ]
        assert len(to_alice) == 1
        [error] = run.logged(Level.ERROR, "not delivered")
        assert dict(error.fields) == {
            "chat_id": "1001",
            "error": "Telegram sendMessage: 403 Forbidden: bot was blocked by the user",
        }
        assert run.health.send_failures == 1
        # refused for good: its journal entry is closed (a restart would only run
        # the turn again for the same refusal)
        assert run.health.journal_backlog == 0


async def test_typing_is_refreshed_while_the_turn_runs_and_stops_with_the_reply(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        asked = await message_from(run, ALICE, "think hard")
        received = trio.current_time()
        await trio.sleep(10)  # the model works
        await run.reply(asked, "done thinking")
        [sent] = await delivered_so_far(run, ALICE.id)
        await trio.sleep(3 * TYPING_REFRESH_SECONDS)  # no refresh comes any more
        actions = run.telegram.chat_actions
        assert [(a.chat_id, a.action, a.thread_id) for a in actions] == [
            (ALICE.id, "typing", None)
        ] * 3
        assert [a.at for a in actions] == [
            received,
            received + TYPING_REFRESH_SECONDS,
            received + 2 * TYPING_REFRESH_SECONDS,
        ]
        assert sent.at >= received + 10


async def test_typing_lasts_while_any_turn_of_the_chat_waits(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        first = await message_from(run, ALICE, "one")
        second = await message_from(run, ALICE, "two")
        await run.reply(first, "answer one")
        await trio.sleep(3 * TYPING_REFRESH_SECONDS)  # the second turn still runs
        shown_while_second_waits = len(run.telegram.chat_actions)
        await run.reply(second, "answer two")
        await delivered_so_far(run, ALICE.id)
        await trio.sleep(3 * TYPING_REFRESH_SECONDS)
        assert shown_while_second_waits >= 3
        assert len(run.telegram.chat_actions) <= shown_while_second_waits + 1


async def test_forum_topics_are_kept_and_group_replies_quote_once(tmp_path: Path) -> None:
    async with running(tmp_path) as run:
        topic = run.telegram.open_topic(FORUM, "planning", ALICE)
        asked = await message_from(run, ALICE, f"{BOT_HANDLE} plan it", chat=FORUM, thread_id=topic)
        assert (asked.thread_id, asked.is_group) == (str(topic), True)
        with trio.fail_after(STEP_SECONDS):  # typing shows while the "model" works
            await run.telegram.until(lambda: bool(run.telegram.chat_actions))
        long_answer = "\n\n".join(f"Step {n}: " + "do the thing " * 40 for n in range(20))
        await run.reply(asked, long_answer)
        chunks = await delivered_so_far(run, FORUM.id)
        assert len(chunks) >= 2
        assert [c.thread_id for c in chunks] == [topic] * len(chunks)
        assert [c.reply_to_message_id for c in chunks] == [int(asked.message_id or 0)] + [None] * (
            len(chunks) - 1
        )
        assert {(a.chat_id, a.thread_id) for a in run.telegram.chat_actions} == {(FORUM.id, topic)}
