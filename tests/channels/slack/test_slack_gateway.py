"""The whole gateway with Slack enabled, against the loopback Slack and model fakes.

The real tree runs (log, sandbox pool with bubblewrap, channels, router,
HTTP) with `build_gateway(..., channels=[slack_channel(...)])`; the real
Slack client talks to the fake over loopback HTTP and a real WebSocket, and
the real Anthropic SDK to the fake model (an echo unless a test says). Who
may talk (DMs, channel mentions, every group policy), loop prevention,
threads, the same message as `message` and `app_mention`, model output that
tries to ping, a socket refresh and a drop while people write, a refused
token in `/healthz`, and a 429 waited out to the virtual second.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from autobot.channels.slack.actor import MIN_REFRESH_SECONDS
from autobot.testing.fake_slack import BOT_USER_ID, FakeSlack
from autobot.testing.llm_script import ScriptedReply, Step
from autobot.testing.slack.faults import Fault
from autobot.testing.telegram_bot import last_user_text
from autobot.testing.telegram_channel import patient_clock

from .gateway import STEP_SECONDS, Running, running_bot

ALICE, BOB = "U1001", "U1002"
TEAM, OTHER = "C0TEAM01", "C0OTHER1"
MENTION = f"<@{BOT_USER_ID}>"


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return patient_clock()


def people(fake: FakeSlack) -> None:
    fake.add_user(ALICE, "alice")
    fake.add_user(BOB, "bob")
    fake.add_channel(TEAM)
    fake.add_channel(OTHER)


def with_channel_messages(fake: FakeSlack) -> None:
    """Also subscribed to message.channels: a mention arrives twice (two events)."""
    people(fake)
    fake.subscriptions.add("message.channels")


async def settled(bot: Running, answers: int) -> None:
    """Every event acknowledged (so handled), and `answers` messages posted."""
    fake = bot.slack
    with trio.fail_after(STEP_SECONDS):
        await fake.until(lambda: not fake.pending and len(fake.posted) >= answers)
        await fake.until(lambda: not fake.pending)  # the echoes of the answers too


async def health_and_metrics(bot: Running) -> tuple[httpx.Response, str]:
    async with httpx.AsyncClient(base_url=bot.gateway.http_url or "") as client:
        return await client.get("/healthz"), (await client.get("/metrics")).text


async def test_direct_messages_allowed_answered_and_a_stranger_denied(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=[ALICE], prepare=people) as bot:
        alice, bob = bot.slack.users[ALICE], bot.slack.users[BOB]
        bot.slack.post_dm(alice, "hello there")
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.slack.next_message(alice.dm)
        bot.slack.post_dm(bob, "let me in")
        with trio.fail_after(STEP_SECONDS):
            denial = await bot.slack.next_message(bob.dm)
        await settled(bot, 2)
        health, metrics = await health_and_metrics(bot)
    assert reply.text == "echo: hello there" and reply.thread_ts is None
    assert denial.text.startswith("Sorry, this bot does not talk to you. Your slack id is U1002")
    assert health.status_code == 200
    assert 'autobot_channel_denied_total{channel="slack"} 1' in metrics
    assert 'autobot_channel_messages_in_total{channel="slack"} 1' in metrics
    assert 'autobot_channel_up{channel="slack"} 1' in metrics
    assert [last_user_text(r.json()) for r in bot.model.requests] == ["hello there"]
    log = (bot.loaded.logs_dir / "autobot.log").read_text()
    assert "ACCESS DENIED" in log and BOB in log and "let me in" not in log
    assert bot.slack.bot_token not in log and bot.slack.app_token not in log


# (group_policy, group_allow_from) -> which of the channel messages below get an answer
CASES = {
    "alice mentions in team": (ALICE, TEAM, f"{MENTION} status?"),
    "alice talks in team": (ALICE, TEAM, "just chatting"),
    "alice mentions in other": (ALICE, OTHER, f"{MENTION} over here"),
    "bob mentions in team": (BOB, TEAM, f"{MENTION} me too"),
}
MATRIX = [
    ("mention", [TEAM], {"alice mentions in team"}),
    ("mention", ["*"], {"alice mentions in team", "alice mentions in other"}),
    ("mention", [], set()),  # an empty group_allow_from allows no channel
    ("open", [TEAM], {"alice mentions in team", "alice talks in team"}),
    ("allowlist", [TEAM], {"alice mentions in team", "alice talks in team"}),
    ("disabled", [TEAM], set()),
]


@pytest.mark.parametrize(("policy", "groups", "answered"), MATRIX)
async def test_channel_access_matrix(
    tmp_path: Path, policy: str, groups: list[str], answered: set[str]
) -> None:
    settings = {"group_policy": policy, "group_allow_from": groups}
    async with running_bot(
        tmp_path, allow_from=[ALICE], slack=settings, prepare=with_channel_messages
    ) as bot:
        posted = {}
        for name, (user, channel, text) in CASES.items():
            posted[name] = bot.slack.post_in_channel(bot.slack.users[user], channel, text)
        await settled(bot, len(answered))
        await trio.sleep(0.5)  # a reply that should not exist would have come by now
        await settled(bot, len(answered))
    replies = {(m.channel, m.thread_ts): m.text for m in bot.slack.posted}
    got = {name for name, ts in posted.items() if (CASES[name][1], ts) in replies}
    assert got == answered
    assert len(bot.slack.posted) == len(answered)  # one answer each, none in the wrong place
    for name in answered:
        assert replies[(CASES[name][1], posted[name])].startswith("echo: [U1001 in a group chat]")
    assert len(bot.model.requests) == len(answered)


async def test_a_mention_delivered_as_message_and_app_mention_is_answered_once(
    tmp_path: Path,
) -> None:
    settings = {"group_allow_from": [TEAM]}
    async with running_bot(
        tmp_path, allow_from=[ALICE], slack=settings, prepare=with_channel_messages
    ) as bot:
        ts = bot.slack.post_in_channel(bot.slack.users[ALICE], TEAM, f"{MENTION} once")
        await settled(bot, 1)
        await trio.sleep(0.5)
    event_ids = {d.event_id for d in bot.slack.deliveries}
    kinds = [d for d in bot.slack.deliveries]
    assert len(event_ids) >= 2 and len(kinds) >= 2  # two events for the one message
    [reply] = bot.slack.posted
    assert reply.channel == TEAM and reply.thread_ts == ts
    assert len(bot.model.requests) == 1


async def test_loops_are_prevented(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=["*"], prepare=people) as bot:
        alice = bot.slack.users[ALICE]
        base = {"channel": alice.dm, "channel_type": "im", "ts": "1767225600.900001"}
        for event in (
            {**base, "type": "message", "user": BOT_USER_ID, "text": "my own words"},
            {**base, "type": "message", "user": ALICE, "bot_id": "B9", "text": "a bot via alice"},
            {**base, "type": "message", "subtype": "bot_message", "bot_id": "B9", "text": "bot"},
            {**base, "type": "message", "subtype": "message_changed", "user": ALICE, "text": "e"},
            {**base, "type": "message", "subtype": "channel_join", "user": ALICE, "text": "j"},
        ):
            bot.slack.inject_event(event)
        bot.slack.post_dm(alice, "a real question")
        await settled(bot, 1)
        for _ in range(3):  # the bot's answers come back as events: still nothing new
            await trio.sleep(0.3)
            await settled(bot, 1)
    assert [m.text for m in bot.slack.posted] == ["echo: a real question"]
    assert [last_user_text(r.json()) for r in bot.model.requests] == ["a real question"]
    echoes = [d for d in bot.slack.deliveries if d.event_id not in {""}]
    assert len(echoes) == 7  # five injected, the question, the echo of the answer


async def test_replies_go_to_the_right_thread(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, allow_from=[ALICE], slack={"group_allow_from": [TEAM]}, prepare=people
    ) as bot:
        alice = bot.slack.users[ALICE]
        top = bot.slack.post_in_channel(alice, TEAM, f"{MENTION} start a thread")
        await settled(bot, 1)
        bot.slack.post_in_channel(alice, TEAM, f"{MENTION} in the thread", thread_ts=top)
        bot.slack.post_dm(alice, "plain dm")
        dm_thread = "1767225600.123456"
        bot.slack.post_dm(alice, "dm thread", thread_ts=dm_thread)
        await settled(bot, 4)

    def reply_to(text: str) -> Any:
        [found] = [m for m in bot.slack.posted if m.text.endswith(text)]
        return found

    # the model's echo of the mention arrives escaped: no ping back at the bot
    assert reply_to("&lt;@U0BOT0001&gt; start a thread").thread_ts == top
    assert reply_to("&lt;@U0BOT0001&gt; in the thread").thread_ts == top  # its own thread
    assert reply_to("echo: plain dm").thread_ts is None
    assert reply_to("echo: plain dm").channel == alice.dm
    assert reply_to("echo: dm thread").thread_ts == dm_thread


def pinging_model(body: Mapping[str, Any]) -> Step:
    return ScriptedReply(text="<!channel> <@U123> <#C1|x> & stuff")


async def test_model_output_cannot_ping_or_link(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path,
        allow_from=[ALICE],
        slack={"group_allow_from": [TEAM]},
        model=pinging_model,
        prepare=people,
    ) as bot:
        alice = bot.slack.users[ALICE]
        bot.slack.post_dm(alice, "say something")
        bot.slack.post_in_channel(alice, TEAM, f"{MENTION} and here?")
        await settled(bot, 2)
    assert len(bot.slack.posted) == 2
    for message in bot.slack.posted:
        assert message.text == "&lt;!channel&gt; &lt;@U123&gt; &lt;#C1|x&gt; &amp; stuff"
        assert message.arguments["parse"] == "none" and message.arguments["link_names"] is False


async def test_messages_during_a_refresh_are_all_answered_once(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(tmp_path, allow_from=[ALICE], prepare=people) as bot:
        fake, alice = bot.slack, bot.slack.users[ALICE]
        with trio.fail_after(STEP_SECONDS):
            await fake.until(lambda: len(fake.connections) == 1)
        fake.post_dm(alice, "before")
        await settled(bot, 1)
        await trio.sleep(MIN_REFRESH_SECONDS)  # a socket refreshed sooner waits for this
        await fake.disconnect("refresh_requested", close_after=10.0)
        texts = [f"during {n}" for n in range(5)]
        for text in texts:
            fake.post_dm(alice, text)
            await trio.sleep(0.05)
        with trio.fail_after(STEP_SECONDS):
            await fake.until(lambda: len(fake.connections) == 2)
        fake.post_dm(alice, "after")
        await settled(bot, 7)
        with trio.fail_after(STEP_SECONDS):
            await fake.until(lambda: not fake.connections[0].open)
        await settled(bot, 7)
    answered = sorted(m.text for m in fake.posted)
    assert answered == sorted(f"echo: {t}" for t in ["before", *texts, "after"])
    assert fake.lost == []
    assert fake.connections[1].open_at_hello == 2  # opened before the old one closed
    assert len(bot.model.requests) == 7


async def test_a_dropped_socket_reconnects_and_nothing_is_lost(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=[ALICE], prepare=people) as bot:
        fake, alice = bot.slack, bot.slack.users[ALICE]
        with trio.fail_after(STEP_SECONDS):
            await fake.until(lambda: len(fake.connections) == 1)
        await fake.drop()
        fake.post_dm(alice, "while it was down")
        with trio.fail_after(STEP_SECONDS):
            reply = await fake.next_message(alice.dm)
        health, metrics = await health_and_metrics(bot)
    assert reply.text == "echo: while it was down"
    assert len(fake.connections) == 2 and fake.connections[0].close_code == 1006
    assert health.status_code == 200
    assert 'autobot_channel_reconnects_total{channel="slack"} 1' in metrics


async def test_a_refused_bot_token_stops_the_channel_and_healthz_says_why(
    tmp_path: Path,
) -> None:
    def refuse(fake: FakeSlack) -> None:
        people(fake)
        fake.fail_next("auth.test", Fault.slack_error("invalid_auth"))

    async with running_bot(tmp_path, allow_from=[ALICE], prepare=refuse) as bot:
        with trio.fail_after(STEP_SECONDS):
            await bot.slack.wait_for_calls("auth.test", 1)
        health, metrics = await health_and_metrics(bot)
        while health.status_code == 200:
            await trio.sleep(0.05)
            health, metrics = await health_and_metrics(bot)
    assert health.status_code == 503
    assert health.text == (
        "slack: stopped: Slack rejected the bot token (invalid_auth): "
        "check SLACK_BOT_TOKEN in .env\n"
    )
    assert 'autobot_channel_up{channel="slack"} 0' in metrics
    assert bot.slack.calls_to("apps.connections.open") == []
    log = (bot.loaded.logs_dir / "autobot.log").read_text()
    assert "slack channel stopped: Slack rejected the bot token (invalid_auth)" in log


async def test_a_429_on_post_message_waits_exactly_its_retry_after(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(tmp_path, allow_from=[ALICE], prepare=people) as bot:
        fake, alice = bot.slack, bot.slack.users[ALICE]
        fake.fail_next("chat.postMessage", Fault.rate_limited(7))
        fake.fail_next("chat.postMessage", Fault.rate_limited(3, status=200))
        fake.post_dm(alice, "are you busy?")
        with trio.fail_after(STEP_SECONDS * 10):
            reply = await fake.next_message(alice.dm)
    first, second, third = (call.at for call in fake.calls_to("chat.postMessage"))
    assert second == first + 7 and third == second + 3 == reply.at
    assert reply.text == "echo: are you busy?"
