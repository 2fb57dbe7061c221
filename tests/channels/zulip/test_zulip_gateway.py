"""The whole gateway with Zulip enabled, against the loopback Zulip and model fakes.

The real tree runs (log, sandbox pool with bubblewrap, channels, router,
HTTP), the real Zulip client talks to the fake over loopback HTTP, and the
real Anthropic SDK to the fake model. The first tests run in real time with
the HTTP actor (health and metrics); the others run the tree on one virtual
clock (the wall clock tied to it) that jumps only once the whole process
has been idle for `AUTOJUMP_SECONDS` of real time, far longer than any
loopback exchange or sandbox call takes, so their instants are exact.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic  # noqa: F401 -- loaded now: its ~1 s first import must not happen on a test's clock
import attrs
import httpx
import pytest
import trio
import trio.testing

from autobot.app import Gateway
from autobot.config import LoadedConfig, load_config
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_zulip import FakeZulip, serve_fake_zulip
from autobot.testing.gateway_process import free_port
from autobot.testing.llm_script import FakeLLM, ScriptedReply, Step
from autobot.testing.telegram_bot import last_user_text
from autobot.testing.zulip.faults import Fault
from autobot.testing.zulip.records import ZulipUser

from .bot import make_zulip_bot, zulip_gateway

STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine (real time)
AUTOJUMP_SECONDS = 1.0
WAIT = 600.0  # virtual seconds any step may take
BASE = 1_767_225_600.0  # the wall clock at virtual time 0
ALICE_ID, BOB_ID, MALLORY_ID = 101, 102, 103
INJECTION = (
    "Done. @**all** @**everyone** @**stream** @**channel** @**topic** @_**all** "
    "@**Alice** @**Alice|101** @*admins* @_*admins*"
)
# Zulip's own mention patterns (zerver/lib/mention.py)
PINGS = re.compile(r"(?<![^\s'\"\(\{\[/<])@_?\*")


def model(body: Mapping[str, Any]) -> Step:
    """Echoes the user's last message, or misbehaves when asked."""
    text = last_user_text(body)
    last_line = text.splitlines()[-1]
    if last_line.endswith("ping everyone"):
        return ScriptedReply(text=INJECTION)
    if last_line.endswith("write a long answer"):
        paragraphs = [" ".join(f"w{p}.{i}" for i in range(60)) for p in range(40)]
        return ScriptedReply(text="\n\n".join(paragraphs))
    return ScriptedReply(text="echo: " + text)


def users(fake: FakeZulip) -> tuple[ZulipUser, ZulipUser, ZulipUser]:
    return (
        fake.add_user("Alice", "alice@example.com", user_id=ALICE_ID),
        fake.add_user("Bob", "bob@example.com", user_id=BOB_ID),
        fake.add_user("Mallory", "mallory@example.com", user_id=MALLORY_ID),
    )


@attrs.frozen
class Running:
    gateway: Gateway
    zulip: FakeZulip
    model: FakeLLM
    loaded: LoadedConfig

    def log(self) -> str:
        return (self.loaded.logs_dir / "autobot.log").read_text()


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    allow_from: list[str],
    settings: dict[str, Any] | None = None,
    virtual: bool = False,
    max_message_length: int = 10_000,
    before_start: Callable[[FakeZulip], None] | None = None,
) -> AsyncIterator[Running]:
    """The gateway with Zulip; `virtual`: on the test's virtual clock, without HTTP."""
    async with (
        serve_fake_zulip(max_message_length=max_message_length) as zulip,
        serve_fake_anthropic(handler=model) as llm,
    ):
        users(zulip)
        if before_start is not None:
            before_start(zulip)
        config_path = make_zulip_bot(
            tmp_path,
            zulip=zulip,
            model_url=llm.base_url,
            allow_from=allow_from,
            settings=settings,
            port=free_port(),
        )
        loaded = load_config(config_path, {})
        if virtual:
            gateway = zulip_gateway(
                loaded, serve_http=False, wall_clock=lambda: BASE + trio.current_time()
            )
        else:
            gateway = zulip_gateway(loaded)
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, zulip, llm, loaded)
            gateway.stop()


async def test_the_allowlist_matrix_and_loop_prevention(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path,
        allow_from=["alice@EXAMPLE.com", str(BOB_ID)],
        settings={"streams": ["general"]},
    ) as bot:
        fake = bot.zulip
        alice, bob, mallory = (fake.users[i] for i in (ALICE_ID, BOB_ID, MALLORY_ID))
        general, random_stream = fake.add_stream("general"), fake.add_stream("random")
        with trio.fail_after(STEP_SECONDS):
            fake.send_direct(alice, "hello there")  # allowed by email
            assert (await fake.next_direct(alice)).content == "echo: hello there"
            fake.send_direct(bob, "hi from bob")  # allowed by id
            assert (await fake.next_direct(bob)).content == "echo: hi from bob"
            fake.send_direct(mallory, "let me in")  # not allowed
            denial = await fake.next_direct(mallory)
            assert f"Your zulip id is {MALLORY_ID}" in denial.content
            fake.send_stream(alice, general, "lunch", "nobody mentioned the bot")
            fake.send_stream(alice, random_stream, "x", "@**Autobot** in an unlisted stream")
            fake.send_stream(mallory, general, "lunch", "@**Autobot** obey me")
            fake.send_stream(alice, general, "lunch", "@**Autobot** what time is it")
            reply = await fake.next_in_topic(general, "lunch")
            fake.send_direct(alice, "last")  # anything still coming comes before it
            assert (await fake.next_direct(alice)).content == "echo: last"
        assert reply.content == (
            "echo: [Alice in a group chat]\n@\u200b**Autobot** what time is it"
        )
        assert [m.content for m in fake.sent] == [
            "echo: hello there",
            "echo: hi from bob",
            denial.content,
            reply.content,
            "echo: last",
        ]
        # the bot's own five messages came back as events: none reached the model
        assert len(bot.model.requests) == 4
        async with httpx.AsyncClient(base_url=bot.gateway.http_url or "") as client:
            health = await client.get("/healthz")
            metrics = (await client.get("/metrics")).text
    assert health.status_code == 200
    assert 'autobot_channel_denied_total{channel="zulip"} 3' in metrics
    assert 'autobot_channel_messages_out_total{channel="zulip"} 4' in metrics
    log = bot.log()
    assert log.count("ACCESS DENIED") == 3 and f"sender_id={MALLORY_ID}" in log
    assert "let me in" not in log and "obey me" not in log
    assert fake.api_key not in log


async def test_each_topic_is_its_own_conversation(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, allow_from=[str(ALICE_ID)], settings={"streams": ["general", "Ops"]}
    ) as bot:
        fake = bot.zulip
        alice = fake.users[ALICE_ID]
        general, ops = fake.add_stream("general"), fake.add_stream("ops")
        with trio.fail_after(STEP_SECONDS):
            for stream, topic, text in [
                (general, "lunch", "first about lunch"),
                (general, "deploys", "first about deploys"),
                (ops, "lunch", "ops lunch"),
                (general, "lunch", "second about lunch"),
            ]:
                fake.send_stream(alice, stream, topic, f"@**Autobot** {text}")
                reply = await fake.next_in_topic(stream, topic)
                assert reply.content.endswith(text)
        assert [(m.stream_id, m.topic) for m in fake.sent] == [
            (general.id, "lunch"),
            (general.id, "deploys"),
            (ops.id, "lunch"),
            (general.id, "lunch"),
        ]
        # the second lunch turn saw the first lunch exchange, and nothing of the others
        history = str(bot.model.requests[3].json()["messages"])
        assert "first about lunch" in history
        assert "deploys" not in history and "ops lunch" not in history


async def test_refused_credentials_stop_the_channel_with_a_clear_health_message(
    tmp_path: Path,
) -> None:
    async with running_bot(
        tmp_path, allow_from=["*"], before_start=FakeZulip.revoke_api_key
    ) as bot:
        async with httpx.AsyncClient(base_url=bot.gateway.http_url or "") as client:
            health = await client.get("/healthz")
        await trio.sleep(1)
        calls = len(bot.zulip.calls)
    assert health.status_code == 503
    assert "zulip: stopped: the Zulip server refused the bot's credentials (401)" in health.text
    assert "check channels.zulip.email and ZULIP_API_KEY in .env" in health.text
    assert calls == 1  # one users/me: no retry storm
    assert "zulip channel stopped: the Zulip server refused" in bot.log()


# ---- on the virtual clock -------------------------------------------------------------


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_SECONDS)


async def test_429_is_honoured_at_exact_virtual_times(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    def limited(fake: FakeZulip) -> None:
        fake.fail_next("events", Fault.rate_limited(7))  # the first poll

    async with running_bot(
        tmp_path, allow_from=[str(ALICE_ID)], virtual=True, before_start=limited
    ) as bot:
        fake = bot.zulip
        alice = fake.users[ALICE_ID]
        with trio.fail_after(WAIT):
            [first, second] = await fake.wait_for_calls("events", 2)
            assert second.at - first.at == 7
            fake.fail_next("messages", Fault.rate_limited(2.5, in_header=False))
            fake.send_direct(alice, "hi")
            reply = await fake.next_direct(alice)
        [refused, accepted] = fake.calls_to("messages")
        assert accepted.at - refused.at == 2.5 and reply.at == accepted.at
        assert reply.content == "echo: hi"


async def test_an_expired_queue_is_registered_again_and_keeps_working(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(tmp_path, allow_from=[str(ALICE_ID)], virtual=True) as bot:
        fake = bot.zulip
        alice = fake.users[ALICE_ID]
        with trio.fail_after(WAIT):
            fake.send_direct(alice, "before")
            await fake.next_direct(alice)
            await trio.sleep(5)
            expired = trio.current_time()
            fake.expire_queues()
            [_, again] = await fake.wait_for_calls("register", 2)
            assert again.at == expired
            await fake.until(lambda: fake.waiting_polls == 1)
            fake.send_direct(alice, "after")
            assert (await fake.next_direct(alice)).content == "echo: after"
        assert bot.gateway.health_problems() == []
    assert "zulip: the event queue is gone; messages sent in the last" in bot.log()


async def test_a_reply_longer_than_the_limit_arrives_in_chunks(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(
        tmp_path, allow_from=[str(ALICE_ID)], virtual=True, max_message_length=1000
    ) as bot:
        fake = bot.zulip
        alice = fake.users[ALICE_ID]
        with trio.fail_after(WAIT):
            fake.send_direct(alice, "write a long answer")
            await fake.until(lambda: len(fake.direct_to(alice)) >= 2)
            fake.send_direct(alice, "done?")
            await fake.until(lambda: fake.direct_to(alice)[-1].content == "echo: done?")
        parts = [m.content for m in fake.direct_to(alice)][:-1]
        expected = model({"messages": [{"role": "user", "content": "write a long answer"}]})
        assert isinstance(expected, ScriptedReply)
        assert len(parts) > 10 and all(len(part) <= 1000 for part in parts)
        assert " ".join(parts).split() == expected.text.split()


async def test_mentions_injected_into_a_reply_ping_nobody(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with running_bot(
        tmp_path, allow_from=[str(ALICE_ID)], settings={"streams": ["general"]}, virtual=True
    ) as bot:
        fake = bot.zulip
        alice = fake.users[ALICE_ID]
        general = fake.add_stream("general")
        assert PINGS.findall(INJECTION)
        with trio.fail_after(WAIT):
            fake.send_direct(alice, "ping everyone")
            direct = await fake.next_direct(alice)
            fake.send_stream(alice, general, "announcements", "@**Autobot** ping everyone")
            in_stream = await fake.next_in_topic(general, "announcements")
        for sent in (direct, in_stream):
            assert PINGS.findall(sent.content) == []
            assert sent.content.replace("\u200b", "") == INJECTION
        # what the server made of the bot's own messages: no mention flag at all
        echoes = [m for m in fake.messages if m["sender_id"] == fake.bot.id]
        assert [fake.flags(m) for m in echoes] == [["read"], ["read"]]
