"""Telegram conversations through the whole gateway: the channel, the sessions and the model.

The real tree runs (`build_gateway` with `chat_channels`), the real
Telegram client talks to the loopback Bot API fake and the real Anthropic SDK
to the model fake, which echoes what the session sent it. Covered: pairing
approved with the real `autobot pairing approve` process, `/reset` starting
a new conversation (the old journal archived, the model sees no earlier
history), media the model is told about, forum topics and quoting as the
session places its replies.
"""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.app import Gateway, build_gateway, chat_channels
from autobot.config import LoadedConfig, load_config
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram
from autobot.testing.llm_script import FakeLLM
from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram_bot import echo_model, last_user_text, make_telegram_bot

ALICE = TelegramUser(id=1001, first_name="Alice", username="alice")
BOB = TelegramUser(id=1002, first_name="Bob", username="bob_b")
FORUM = TelegramChat(id=-1002000, type="supergroup", title="Forum", is_forum=True)
STEP_SECONDS = 30.0  # generous bound for one exchange on a loaded CI machine
CLI_SECONDS = 60.0  # a fresh Python process on a loaded machine
AUTOBOT = (sys.executable, "-m", "autobot")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00fake-jpeg-body" * 20  # a JPEG by its signature


@attrs.frozen
class Running:
    gateway: Gateway
    telegram: FakeTelegram
    model: FakeLLM
    loaded: LoadedConfig
    config_path: Path


@asynccontextmanager
async def running_bot(tmp_path: Path, **telegram: Any) -> AsyncIterator[Running]:
    async with (
        serve_fake_telegram() as fake_telegram,
        serve_fake_anthropic(handler=echo_model()) as model,
    ):
        allow_from = telegram.pop("allow_from", ())
        config_path = make_telegram_bot(
            tmp_path,
            telegram_url=fake_telegram.base_url,
            model_url=model.base_url,
            allow_from=allow_from,
            telegram=telegram,
        )
        loaded = load_config(config_path, {})
        loaded = attrs.evolve(
            loaded,
            config=attrs.evolve(loaded.config, gateway=attrs.evolve(loaded.config.gateway, port=0)),
        )
        gateway = build_gateway(loaded, echo=io.StringIO(), channels=chat_channels(loaded))
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.run)
            yield Running(gateway, fake_telegram, model, loaded, config_path)
            gateway.stop()


async def answer(bot: Running, user: TelegramUser, text: str) -> str:
    """`user` writes `text`; the text of the bot's next message to them."""
    bot.telegram.post_text(user, text)
    with trio.fail_after(STEP_SECONDS):
        return (await bot.telegram.next_message(user.id)).text


async def settled(telegram: FakeTelegram) -> None:
    """Every update posted so far was handled and confirmed; the channel polls again."""
    with trio.fail_after(STEP_SECONDS):
        await telegram.until(
            lambda: not telegram.pending_update_ids and telegram.active_poll is not None
        )


async def test_pairing_approved_by_the_cli_lets_the_sender_reach_the_model(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, dm_policy="pairing") as bot:
        offer = await answer(bot, BOB, "hello?")
        code = offer.removeprefix("Your pairing code is ").split(" ", 1)[0]
        assert f"autobot pairing approve telegram {code}" in offer
        bot.telegram.post_text(BOB, "anyone?")
        await settled(bot.telegram)
        assert len(bot.telegram.messages_in(BOB.id)) == 1  # the code is not sent again
        approved = await trio.run_process(
            [*AUTOBOT, "--config", str(bot.config_path), "pairing", "approve", "telegram", code],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert (approved.returncode, approved.stdout.decode()) == (
            0,
            "Approved 1002 (@bob_b) on telegram.\n",
        ), approved.stderr.decode()
        assert await answer(bot, BOB, "am I in?") == "echo: am I in?"
    # the model saw only what was said after the approval
    assert [last_user_text(body) for body in bot.model.bodies()] == ["am I in?"]


async def test_reset_archives_the_conversation_and_the_model_starts_afresh(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path, allow_from=["1001"]) as bot:
        assert await answer(bot, ALICE, "my name is Alice") == "echo: my name is Alice"
        assert await answer(bot, ALICE, "/reset") == (
            "Started a new conversation (the previous one is archived)."
        )
        assert await answer(bot, ALICE, "what is my name?") == "echo: what is my name?"
    first, second = bot.model.bodies()
    assert [m["role"] for m in first["messages"]] == ["user"]
    # the model's second request is a new conversation: one user message, no history
    assert [m["role"] for m in second["messages"]] == ["user"]
    assert last_user_text(second) == "what is my name?"
    assert "my name is Alice" not in str(second)
    sessions = bot.loaded.sessions_dir
    archived = [p for p in sessions.iterdir() if ".archived-" in p.name]
    live = [p for p in sessions.iterdir() if p.is_file() and ".archived-" not in p.name]
    assert len(archived) == 1 and "my name is Alice" in archived[0].read_text()
    assert [p.name for p in live] == [archived[0].name.split(".archived-")[0]]
    assert "my name is Alice" not in live[0].read_text()
    assert "what is my name?" in live[0].read_text()


async def test_media_are_saved_and_the_model_is_told_where(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=["1001"], max_file_bytes=4096) as bot:
        sizes = [(90, 90, b"\xff\xd8\xff small"), (800, 600, JPEG)]
        photo = bot.telegram.post_photo(ALICE, sizes, caption="what is this?")
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.telegram.next_message(ALICE.id)
        saved = f"inbox/telegram-1001-{photo['message_id']}-photo.jpg"
        assert reply.text == (
            f"echo: [photo received, saved in the workspace at {saved}]\nwhat is this?"
        )
        assert (bot.loaded.workspace / saved).read_bytes() == JPEG
        document = bot.telegram.post_document(
            ALICE, b"a,b\n1,2\n", file_name="../table.csv", mime_type="text/csv"
        )
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.telegram.next_message(ALICE.id)
        saved = f"inbox/telegram-1001-{document['message_id']}-document.csv"
        assert reply.text == f"echo: [document received, saved in the workspace at {saved}]"
        assert (bot.loaded.workspace / saved).read_bytes() == b"a,b\n1,2\n"
        bot.telegram.post_document(ALICE, b"z" * 5000, file_name="big.csv", caption="and this?")
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.telegram.next_message(ALICE.id)
        assert reply.text == "echo: and this?"  # nothing saved, nothing claimed
    assert sorted(p.name for p in (bot.loaded.workspace / "inbox").iterdir()) == sorted(
        [
            f"telegram-1001-{photo['message_id']}-photo.jpg",
            f"telegram-1001-{document['message_id']}-document.csv",
        ]
    )


async def test_forum_topic_replies_stay_in_the_topic_and_quote(tmp_path: Path) -> None:
    async with running_bot(tmp_path, allow_from=["1001"], group_allow_from=[str(FORUM.id)]) as bot:
        topic = bot.telegram.open_topic(FORUM, "planning", ALICE)
        posted = bot.telegram.post_text(
            ALICE, "@autobot_test_bot what next?", chat=FORUM, thread_id=topic
        )
        with trio.fail_after(STEP_SECONDS):
            reply = await bot.telegram.next_message(FORUM.id)
        assert reply.text == "echo: [Alice in a group chat]\n@autobot_test_bot what next?"
        assert (reply.thread_id, reply.reply_to_message_id) == (topic, posted["message_id"])
        assert reply.message["message_thread_id"] == topic
