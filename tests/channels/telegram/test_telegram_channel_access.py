"""Who may talk to the Telegram channel, end to end over the Bot API fake.

Users post through the loopback fake; the real channel (launcher, client,
gate, journal, actor) judges them; what reaches the router is read from the
memory channel that stands in for it (`autobot.testing.telegram_channel`).
Covered: the allow-list matrix (ids, usernames in every case with and
without `@`, look-alike usernames, `"*"`, empty), replies to the denied (one
per hour, naming their id), pairing codes (issued once, approved through the
store, revoked, at most 3 pending), groups (mention by entity, text_mention,
reply to the bot; no mention, other groups, other senders, other bots'
commands ignored), and our commands answered without the model.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from autobot.channels.base import InboundKind
from autobot.channels.inbound_journal import inbound_journal_path
from autobot.channels.pairing import approve_code, revoke_sender
from autobot.channels.pairing_store import PairingStore
from autobot.channels.telegram.actor import GREETING, HELP
from autobot.config.schema import DmPolicy, GroupPolicy
from autobot.logs.records import ACCESS_DENIED, Level
from autobot.testing.fake_telegram import serve_fake_telegram
from autobot.testing.telegram.entities import Entity, utf16_len
from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram_channel import TelegramRun, channel_config, run_telegram_channel

STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine
ALICE = TelegramUser(id=1001, first_name="Alice", username="Alice_W")
BOB = TelegramUser(id=1002, first_name="Bob", username="bob_b")
NAMELESS = TelegramUser(id=1003, first_name="Nameless")  # no username at all
# Alice's username with a Cyrillic capital A (U+0410) first: looks the same, is not one
LOOKALIKE = TelegramUser(id=1004, first_name="Mallory", username="\u0410lice_W")
EVERYONE = (ALICE, BOB, NAMELESS, LOOKALIKE)
GROUP = TelegramChat(id=-100500, type="supergroup", title="team")
OTHER_GROUP = TelegramChat(id=-100600, type="supergroup", title="elsewhere")
BOT_HANDLE = "@autobot_test_bot"  # the fake's default bot profile


@asynccontextmanager
async def running(tmp_path: Path, **settings: object) -> AsyncIterator[TelegramRun]:
    async with (
        serve_fake_telegram() as fake,
        run_telegram_channel(channel_config(fake, **settings), fake, bot_dir=tmp_path) as run,
    ):
        yield run


async def settled(run: TelegramRun) -> None:
    with trio.fail_after(STEP_SECONDS):
        await run.settled()


def denial(user: TelegramUser) -> str:
    return (
        f"Sorry, this bot does not talk to you. Your telegram id is {user.id}:"
        " its owner can add it to allow_from."
    )


def denied_ids(run: TelegramRun) -> list[str]:
    return [dict(r.fields)["sender_id"] for r in run.logged(Level.WARN, ACCESS_DENIED)]


def journal_text(run: TelegramRun) -> str:
    path = inbound_journal_path(run.bot_dir, "telegram")
    return path.read_text() if path.exists() else ""


def texts(run: TelegramRun, chat_id: int) -> list[str]:
    return [message.text for message in run.telegram.messages_in(chat_id)]


@pytest.mark.parametrize(
    ("allow_from", "admitted"),
    [
        pytest.param(["1001"], {ALICE}, id="id"),
        pytest.param(["alice_w"], {ALICE}, id="lower"),
        pytest.param(["@alice_w"], {ALICE}, id="at-lower"),
        pytest.param(["ALICE_W"], {ALICE}, id="upper"),
        pytest.param(["@ALICE_W"], {ALICE}, id="at-upper"),
        pytest.param(["aLiCe_W"], {ALICE}, id="mixed"),
        pytest.param(["@Alice_W"], {ALICE}, id="at-exact"),
        pytest.param(["  @alice_w  "], {ALICE}, id="padded"),
        pytest.param(["alice"], set(), id="prefix-is-not-a-match"),
        pytest.param(["1002", "@alice_w"], {ALICE, BOB}, id="id-and-username"),
        pytest.param(["*"], set(EVERYONE), id="anyone"),
        pytest.param([], set(), id="empty-denies-all"),
    ],
)
async def test_allow_list_matrix(
    tmp_path: Path, allow_from: list[str], admitted: set[TelegramUser]
) -> None:
    async with running(tmp_path, allow_from=tuple(allow_from)) as run:
        for user in EVERYONE:
            run.telegram.post_text(user, f"hello from {user.id}")
        await settled(run)
        routed = run.routed_so_far()
        expected = [user for user in EVERYONE if user in admitted]
        assert [(m.sender_id, m.content) for m in routed] == [
            (str(user.id), f"hello from {user.id}") for user in expected
        ]
        assert all(m.journal_id is not None for m in routed)  # journaled before confirmed
        refused = [user for user in EVERYONE if user not in admitted]
        assert denied_ids(run) == [str(user.id) for user in refused]
        for user in EVERYONE:
            assert texts(run, user.id) == ([] if user in admitted else [denial(user)])
        journal = journal_text(run)
        for user in refused:  # nothing of a refused message is kept
            assert f"hello from {user.id}" not in journal


async def test_a_denied_sender_is_answered_at_most_once_an_hour(tmp_path: Path) -> None:
    async with running(tmp_path, allow_from=("1001",)) as run:
        for text in ("let me in", "please", "/start"):
            run.telegram.post_text(BOB, text)
            await settled(run)
        assert texts(run, BOB.id) == [denial(BOB)]  # /start is no way around access
        assert denied_ids(run) == ["1002"] * 3  # every attempt is logged
        assert run.routed_so_far() == []
        assert run.health.denied == 3
        assert "let me in" not in str(run.records())  # a stranger's words never logged


async def test_an_allow_list_that_can_never_match_stops_the_channel(tmp_path: Path) -> None:
    async with running(tmp_path, allow_from=("@a b", "-5", "@x")) as run:
        [problem] = run.problems(grace=3600)
        assert problem.startswith("telegram: stopped: channels.telegram.allow_from: '@a b'")
        assert "'-5' is neither a Telegram user id" in problem
        assert "'@x' is neither" in problem
        run.telegram.post_text(ALICE, "anyone there?")
        assert run.telegram.calls == []  # it never even asked who it is
    assert run.supervisor.statistics().total_restarts == 0


async def pairing_code(run: TelegramRun, user: TelegramUser) -> str:
    with trio.fail_after(STEP_SECONDS):
        reply = await run.telegram.next_message(user.id)
    assert reply.text.startswith("Your pairing code is ")
    code = reply.text.removeprefix("Your pairing code is ").split(" ", 1)[0]
    assert f"autobot pairing approve telegram {code}" in reply.text
    return code


async def test_pairing_code_sent_once_then_approval_lets_the_sender_in(tmp_path: Path) -> None:
    async with running(tmp_path, dm_policy=DmPolicy.PAIRING) as run:
        run.telegram.post_text(BOB, "hello?")
        code = await pairing_code(run, BOB)
        run.telegram.post_text(BOB, "hello again?")
        await settled(run)
        assert len(run.telegram.messages_in(BOB.id)) == 1  # the code is not re-sent
        assert run.routed_so_far() == []
        with PairingStore(run.bot_dir) as store:
            store.transact(
                lambda book: approve_code(book, channel="telegram", code=code, now=time.time())
            )
        run.telegram.post_text(BOB, "am I in?")
        with trio.fail_after(STEP_SECONDS):
            message = await run.routed.receive()
        assert (message.sender_id, message.content) == ("1002", "am I in?")
        # nothing sent before the approval reaches the router later
        await settled(run)
        assert run.routed_so_far() == []
        with PairingStore(run.bot_dir) as store:
            store.transact(
                lambda book: revoke_sender(
                    book, channel="telegram", sender_id="1002", now=time.time()
                )
            )
        run.telegram.post_text(BOB, "still in?")
        new_code = await pairing_code(run, BOB)  # a fresh code: the approval is gone
        assert new_code != code
        assert run.routed_so_far() == []


async def test_at_most_three_codes_are_pending_per_channel(tmp_path: Path) -> None:
    strangers = [TelegramUser(id=2000 + n, first_name=f"S{n}") for n in range(4)]
    async with running(tmp_path, dm_policy=DmPolicy.PAIRING) as run:
        codes = []
        for user in strangers[:3]:
            run.telegram.post_text(user, "hi")
            codes.append(await pairing_code(run, user))
        run.telegram.post_text(strangers[3], "hi")
        with trio.fail_after(STEP_SECONDS):
            reply = await run.telegram.next_message(strangers[3].id)
        assert reply.text == denial(strangers[3])
        assert len(set(codes)) == 3
        assert run.routed_so_far() == []


def text_mention(text: str, user: TelegramUser) -> list[Entity]:
    return [Entity(type="text_mention", offset=0, length=utf16_len(text.split(",")[0]), user=user)]


async def test_group_messages_reach_the_router_only_when_addressed_and_allowed(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, allow_from=("1001",), group_allow_from=(str(GROUP.id),)) as run:
        fake = run.telegram
        fake.add_chat(GROUP)
        fake.add_chat(OTHER_GROUP)
        bots_user = fake.bot.user
        fake.post_text(ALICE, f"{BOT_HANDLE} first question", chat=GROUP)
        with trio.fail_after(STEP_SECONDS):
            first = await run.routed.receive()
        assert (first.is_group, first.addressed, first.chat_id) == (True, True, str(GROUP.id))
        await run.reply(first, "first answer")
        with trio.fail_after(STEP_SECONDS):
            answer = await fake.next_message(GROUP.id)
        bob_said = fake.post_text(BOB, "I am just talking", chat=GROUP)
        posts = [
            (ALICE, "no mention at all", {}, False),
            (ALICE, "replying to Bob", {"reply_to": bob_said["message_id"]}, False),
            (ALICE, "replying to the bot", {"reply_to": answer.message_id}, True),
            (
                ALICE,
                "Autobot Test, by text_mention",
                {"entities": text_mention("Autobot Test,", bots_user)},
                True,
            ),
            (ALICE, f"{BOT_HANDLE.upper()} shouting", {}, True),
            (ALICE, f"{BOT_HANDLE}_evil is not us", {}, False),
            (ALICE, "/help@otherbot", {}, False),
            (BOB, f"{BOT_HANDLE} let me in", {}, False),
        ]
        for user, text, extra, _ in posts:
            fake.post_text(user, text, chat=GROUP, **extra)
        fake.post_text(ALICE, f"{BOT_HANDLE} over here", chat=OTHER_GROUP)
        await settled(run)
        routed = run.routed_so_far()
        assert [m.content for m in routed] == [text for _, text, _, ok in posts if ok]
        assert all(m.is_group and m.addressed for m in routed)
        # the bot's own answer is the only message it sent to either group
        assert texts(run, GROUP.id) == ["first answer"]
        assert texts(run, OTHER_GROUP.id) == []
        # only what addressed the bot and was refused is a denial
        reasons = [dict(r.fields)["reason"] for r in run.logged(Level.WARN, ACCESS_DENIED)]
        assert reasons == [
            f"sender 1002 is not allowed (in group {GROUP.id})",
            f"group {OTHER_GROUP.id} is not in group_allow_from",
        ]


async def test_an_allowed_group_does_not_admit_its_members(tmp_path: Path) -> None:
    async with running(
        tmp_path, allow_from=(), group_allow_from=("*",), group_policy=GroupPolicy.OPEN
    ) as run:
        run.telegram.add_chat(GROUP)
        run.telegram.post_text(ALICE, f"{BOT_HANDLE} hi", chat=GROUP)
        run.telegram.post_text(BOB, "hello all", chat=GROUP)
        await settled(run)
        assert run.routed_so_far() == []
        assert denied_ids(run) == ["1001", "1002"]
        assert texts(run, GROUP.id) == []  # no denial text, no code, in a group


async def test_our_commands_are_answered_without_the_router(tmp_path: Path) -> None:
    async with running(tmp_path, allow_from=("1001",), group_allow_from=(str(GROUP.id),)) as run:
        fake = run.telegram
        fake.add_chat(GROUP)
        for text in ("/start", "/help", "/START@autobot_test_bot"):
            fake.post_text(ALICE, text)
        fake.post_text(ALICE, f"/help{BOT_HANDLE}", chat=GROUP)
        await settled(run)
        assert texts(run, ALICE.id) == [GREETING, HELP, GREETING]
        assert texts(run, GROUP.id) == [HELP]
        assert run.routed_so_far() == []
        # another bot's command is not ours: no greeting, it is just text
        fake.post_text(ALICE, "/start@otherbot")
        fake.post_text(ALICE, "/reset")
        await settled(run)
        assert texts(run, ALICE.id) == [
            GREETING,
            HELP,
            GREETING,
            "Started a new conversation (the previous one is archived).",
        ]
        other, reset = run.routed_so_far()
        assert (other.kind, other.content) == (InboundKind.USER, "/start@otherbot")
        assert (reset.kind, reset.chat_id, reset.journal_id) == (InboundKind.RESET, "1001", None)


async def test_messages_before_a_reset_stay_in_the_old_conversation(tmp_path: Path) -> None:
    async with running(tmp_path, allow_from=("1001",)) as run:
        for text in ("my password is hunter2", "/reset", "a fresh start"):
            run.telegram.post_text(ALICE, text)  # one batch: no checkpoint in between
        await settled(run)
        routed = run.routed_so_far()
        assert [(m.kind, m.content) for m in routed] == [
            (InboundKind.USER, "my password is hunter2"),
            (InboundKind.RESET, ""),
            (InboundKind.USER, "a fresh start"),
        ]
        # one batch: the first poll returned all three, the second confirmed them
        after_last = run.telegram.updates.next_id
        assert [poll.offset for poll in run.telegram.polls] == [None, after_last]
