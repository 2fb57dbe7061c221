"""How the Slack channel delivers replies, judged by what the fake recorded.

Replies go into the channel's mailbox as a session would send them
(`autobot.testing.slack_channel`). Covered: long replies split under 4,000
characters with balanced code fences, 429 Retry-After (header, and the
`ratelimited` error without one) and 5xx retries at exact virtual times,
permanent refusals logged once and not retried, workspace files uploaded
into the reply's thread (and one that cannot be sent named to the chat).
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from autobot.channels.base import Attachment, AttachmentKind, InboundMessage
from autobot.channels.slack.actor import BACKOFF_BASE, BACKOFF_CAP, SEND_ATTEMPTS
from autobot.channels.slack.mrkdwn import MESSAGE_LIMIT
from autobot.logs.records import Level
from autobot.runtime import backoff_delay
from autobot.testing.fake_slack import serve_fake_slack
from autobot.testing.slack.faults import Fault
from autobot.testing.slack_channel import SlackRun, channel_config, run_slack_channel
from autobot.testing.telegram_channel import patient_clock

SEED = 11
TEAM = "C0TEAM01"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[SlackRun]:
    async with serve_fake_slack() as fake:
        fake.add_user("U1001", "alice")
        fake.add_channel(TEAM)
        config = channel_config(fake, allow_from=("U1001",), group_allow_from=(TEAM,))
        async with run_slack_channel(
            config, fake, bot_dir=tmp_path, rng=random.Random(SEED)
        ) as run:
            await run.connected(1)
            yield run


async def asked(run: SlackRun, text: str = "hi") -> InboundMessage:
    run.slack.post_dm(run.slack.users["U1001"], text)
    return await run.routed.receive()


def post_times(run: SlackRun) -> list[float]:
    return [call.at for call in run.slack.calls_to("chat.postMessage")]


async def test_a_long_reply_is_split_with_balanced_code_fences(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    code = "\n".join(f"x{n} = {n} < {n + 1}" for n in range(700))
    text = "intro " * 400 + f"\n\n```\n{code}\n```\n\n" + "outro " * 400
    async with running(tmp_path) as run:
        message = await asked(run)
        await run.reply(message, text)
        await run.health_until(lambda health: health.journal_backlog == 0)
        parts = run.slack.messages_in(message.chat_id)
    assert len(parts) >= 5
    assert all(len(part.text) <= MESSAGE_LIMIT for part in parts)
    assert all(part.text.count("```") % 2 == 0 for part in parts)
    joined = "".join(part.text for part in parts)
    assert all(f"x{n} = {n} &lt; {n + 1}" in joined for n in range(700))
    assert run.health.messages_out == 1


async def test_429_waits_exactly_retry_after_and_ratelimited_without_one_backs_off(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    async with running(tmp_path) as run:
        message = await asked(run)
        run.slack.fail_next("chat.postMessage", Fault.rate_limited(7))
        run.slack.fail_next("chat.postMessage", Fault.rate_limited(None, status=200))
        await run.reply(message, "hello")
        reply = await run.slack.next_message(message.chat_id)
        first, second, third = post_times(run)
    # the channel's first draw: the second attempt's backoff (the first waited Retry-After)
    assert second == first + 7
    assert third == second + backoff_delay(1, BACKOFF_BASE, BACKOFF_CAP, rng) == reply.at
    assert reply.text == "hello" and run.health.send_failures == 0


async def test_network_failures_are_retried_then_given_up_keeping_the_entry(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    rng = random.Random(SEED)
    sleeps = [backoff_delay(k, BACKOFF_BASE, BACKOFF_CAP, rng) for k in range(SEND_ATTEMPTS - 1)]
    async with running(tmp_path) as run:
        message = await asked(run)
        run.slack.fail_next("chat.postMessage", Fault.server_error(502), count=SEND_ATTEMPTS)
        await run.reply(message, "lost")
        await run.until_logged(Level.ERROR, "slack message not delivered")
        times = post_times(run)
        [error] = run.logged(Level.ERROR, "slack message not delivered")
    assert times == list(itertools.accumulate(sleeps, initial=times[0]))
    assert dict(error.fields)["chat_id"] == message.chat_id
    assert run.slack.posted == []
    assert run.health.journal_backlog == 1  # unanswered: replayed at the next start


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_a_permanent_refusal_is_logged_once_and_completes_the_entry(
    tmp_path: Path, clock: trio.testing.MockClock, error: str
) -> None:
    async with running(tmp_path) as run:
        message = await asked(run)
        run.slack.fail_next("chat.postMessage", Fault.slack_error(error))
        await run.reply(message, "nobody hears this")
        await run.health_until(lambda health: health.journal_backlog == 0)
        assert len(run.slack.calls_to("chat.postMessage")) == 1
        [logged] = run.logged(Level.ERROR, "slack message not delivered")
    assert error in dict(logged.fields)["error"]
    assert run.health.send_failures == 1


async def test_attachments_are_uploaded_into_the_reply_thread(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running(tmp_path) as run:
        (run.workspace / "report.txt").write_bytes(b"the numbers")
        os.symlink("/etc/passwd", run.workspace / "passwd.txt")
        (run.workspace / ".env").write_text("SECRET=1\n")
        ts = run.slack.post_in_channel(run.slack.users["U1001"], TEAM, "<@U0BOT0001> files?")
        message = await run.routed.receive()
        files = tuple(
            Attachment(kind=AttachmentKind.DOCUMENT, path=path)
            for path in ("report.txt", "passwd.txt", ".env", "missing.txt")
        )
        await run.reply(message, "here you go", attachments=files)
        await run.slack.until(lambda: len(run.slack.posted) == 4)
        await run.health_until(lambda health: health.journal_backlog == 0)
        posted = [m.text for m in run.slack.messages_in(TEAM)]
        uploads = run.slack.uploads
    assert [(u.title, u.data, u.channel, u.thread_ts) for u in uploads] == [
        ("report.txt", b"the numbers", TEAM, ts)
    ]
    assert posted == [
        "here you go",
        "(I could not send the file passwd.txt: it, or a directory on its way, is a symlink.)",
        "(I could not send the file .env: it is a dotenv file.)",
        "(I could not send the file missing.txt: the file is gone.)",
    ]
    assert all(m.thread_ts == ts for m in run.slack.messages_in(TEAM))
    assert len(run.logged(Level.WARN, "slack attachment not sent")) == 3
