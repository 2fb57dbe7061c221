"""Pure parts of the demo: reading turns, checking the log, printing, the
in-memory model and Telegram swap, and the scenario against the access rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from autobot.channels.access import AccessPolicy, Action, Chat, Sender, decide_access
from autobot.channels.pairing import PairingBook
from autobot.channels.telegram.api import BotIdentity
from autobot.channels.telegram.updates import parse_update
from autobot.config import load_config
from autobot.config.schema import DmPolicy, GroupPolicy, TelegramMode
from autobot.config.secret import Secret
from autobot.demo.conversation import Exchange, current_turn
from autobot.demo.logcheck import check_log, end_marker, start_marker
from autobot.demo.play import Outcome
from autobot.demo.provider import DEMO_MODEL, blocking_errors, demo_key, with_demo_provider
from autobot.demo.scenario import (
    ALICE,
    BOT_USERNAME,
    MALLORY,
    SCENARIO,
    TEAM,
    Expect,
    Step,
    demo_bot,
    demo_token,
)
from autobot.demo.telegram import demo_telegram_config, with_demo_telegram
from autobot.demo.transcript import (
    chat_heading,
    message_lines,
    outcome_text,
    prefixed,
    result_lines,
)
from autobot.doctor.findings import Report, error, warning
from autobot.llm.types import ChatMessage, Role, ToolCall
from autobot.logs.redact import Redactor
from autobot.scaffold.create import create_bot
from autobot.testing.fake_telegram import TOKEN
from autobot.testing.telegram.entities import FormattedText, find_entities
from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram.records import SentMessage

from .wire import body, user


def test_the_current_turn_starts_at_the_last_user_text_and_pairs_results() -> None:
    call = ToolCall(id="a", name="read_file", arguments={"path": "x"})
    pending = ToolCall(id="b", name="exec", arguments={"command": "ls"})
    messages = [
        user("old question"),
        ChatMessage(role=Role.ASSISTANT, content="old answer"),
        user("new question"),
        ChatMessage(role=Role.ASSISTANT, tool_calls=(call,)),
        ChatMessage(role=Role.TOOL, content="denied", tool_call_id="a", is_error=True),
        ChatMessage(role=Role.ASSISTANT, content="thinking", tool_calls=(pending,)),
    ]
    turn = current_turn(body(messages))
    assert turn.user_text == "new question"
    assert turn.rounds == 2
    assert turn.exchanges == (
        Exchange(name="read_file", arguments={"path": "x"}, result="denied", is_error=True),
        Exchange(name="exec", arguments={"command": "ls"}),
    )


def test_plain_string_content_and_block_list_results_are_read() -> None:
    request = {
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": "ok"}],
                    }
                ],
            },
        ]
    }
    turn = current_turn(request)
    assert (turn.user_text, turn.rounds) == ("hi", 1)
    assert turn.exchanges == (Exchange(name="n", arguments={}, result="ok"),)


KEY = "sk-ant-demo-" + "0" * 40
BOT_TOKEN = "123456789:" + "T" * 35


def _log(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "complete", "denied", "redacted", "found"),
    [
        (
            _log(
                "x WARN ACCESS DENIED: from an earlier run",
                f"x INFO {start_marker('r1')} api_key=[REDACTED]",
                "x INFO Executing tool: read_file",
                "x WARN ACCESS DENIED: Error: path '/etc/passwd' is outside the workspace",
                "x INFO Tokens: in=1 out=2 session=3",
                f"x INFO {end_marker('r1')}",
                "x WARN ACCESS DENIED: after the run",
            ),
            True,
            1,
            1,
            (),
        ),
        (_log(f"x INFO {start_marker('r1')}", "x WARN ACCESS DENIED: a"), False, 1, 0, ()),
        (_log(f"x INFO {start_marker('r2')}", f"x INFO {end_marker('r1')}"), False, 0, 0, ()),
        (
            _log(f"x INFO {start_marker('r1')}", f"x INFO {end_marker('r1')}", f"leak {KEY}"),
            True,
            0,
            0,
            (KEY,),
        ),
        (
            _log(f"before the run: {BOT_TOKEN}", f"x INFO {start_marker('r1')}"),
            False,
            0,
            0,
            (BOT_TOKEN,),
        ),
        ("", False, 0, 0, ()),
    ],
)
def test_the_log_check_counts_this_runs_lines_and_finds_the_secrets_anywhere(
    text: str, complete: bool, denied: int, redacted: int, found: tuple[str, ...]
) -> None:
    check = check_log(text, run_id="r1", secrets=[KEY, BOT_TOKEN])
    assert (check.complete, check.access_denied, check.redacted, check.leaked) == (
        complete,
        denied,
        redacted,
        found,
    )


def test_a_complete_log_check_counts_tools_and_llm_calls() -> None:
    text = _log(
        f"{start_marker('r')}",
        "Executing tool: a",
        "Executing tool: b",
        "Tokens: in=1",
        end_marker("r"),
    )
    check = check_log(text, run_id="r", secrets=[KEY])
    assert (check.tools_executed, check.llm_calls) == (2, 1)


def test_the_demo_key_is_redacted_by_shape_and_is_fresh_per_rng() -> None:
    key = demo_key(random.Random(1))
    assert key.startswith("sk-ant-demo-") and key != demo_key(random.Random(2))
    assert Redactor(known_secrets=()).redact(f"key {key}") == "key sk-ant-[REDACTED]"


def test_result_lines_are_clipped_and_counted() -> None:
    assert result_lines("") == ["(empty)"]
    assert result_lines("\n".join(str(i) for i in range(8))) == [*"012345", "... (2 more lines)"]
    assert result_lines("\n".join("abcdefg")) == [*"abcdef", "... (1 more line)"]
    assert result_lines("x" * 200) == ["x" * 107 + "..."]


def _sent(text: str, *, chat_id: int = ALICE.id, reply_to: int | None = None) -> SentMessage:
    return SentMessage(
        method="sendMessage",
        chat_id=chat_id,
        message_id=1,
        text=text,
        entities=(),
        parse_mode=None,
        thread_id=None,
        reply_to_message_id=reply_to,
        upload=None,
        at=0.0,
        message={},
    )


def test_a_step_prints_the_user_the_tools_and_the_aligned_reply() -> None:
    step = Step(sender=ALICE, text="hi", expect=Expect.ANSWER, why="allowed")
    outcome = Outcome(
        step=step,
        posted_id=7,
        sent=(_sent("line one\nline two"),),
        exchanges=(
            Exchange(
                name="read_file",
                arguments={"path": "/etc/passwd"},
                result="Error: no",
                is_error=True,
            ),
        ),
    )
    assert outcome_text(outcome, why=True) == (
        "Alice> hi\n"
        "  -- allowed\n"
        "  [tool] read_file /etc/passwd  (error)\n"
        "         Error: no\n"
        "autobot> line one\n"
        "         line two\n"
    )
    assert (
        outcome_text(outcome, why=False).splitlines()[1]
        == "  [tool] read_file /etc/passwd  (error)"
    )
    assert prefixed("> ", []) == "> "


def test_a_reply_in_parts_is_numbered_and_a_group_reply_names_who_it_answers() -> None:
    step = Step(sender=ALICE, text="@bot go", expect=Expect.ANSWER, why="w", chat=TEAM)
    parts = (_sent("a" * 4000, chat_id=TEAM.id, reply_to=3), _sent("b😀", chat_id=TEAM.id))
    text = outcome_text(Outcome(step=step, posted_id=3, sent=parts), why=False)
    assert text.splitlines() == [
        "Alice> @bot go",
        "autobot (1 of 2, reply to Alice)> " + "a" * 4000,
        "  -- 4000 characters (Telegram takes 4096)",
        "autobot (2 of 2)> b😀",
        "  -- 3 characters (Telegram takes 4096)",  # UTF-16 code units, as Telegram counts
    ]


def test_silence_and_denials_print_what_happened() -> None:
    quiet = Step(sender=MALLORY, text="@x hi", expect=Expect.SILENCE, why="not allowed", chat=TEAM)
    assert outcome_text(Outcome(step=quiet, posted_id=1, sent=()), why=True).splitlines() == [
        "Mallory> @x hi",
        "  -- not allowed",
        "  -- no reply",
    ]
    denied = Step(sender=MALLORY, text="hi", expect=Expect.DENIAL, why="no")
    outcome = Outcome(step=denied, posted_id=1, sent=(_sent("Sorry", chat_id=MALLORY.id),))
    assert outcome_text(outcome, why=False) == "Mallory> hi\nautobot> Sorry\n"


def test_long_messages_show_their_first_and_last_lines() -> None:
    short = "\n".join(str(i) for i in range(16))
    assert message_lines(short) == short.splitlines()
    long = "\n".join(str(i) for i in range(17))
    assert message_lines(long) == ["0", "1", "2", "3", "4", "... (10 more lines)", "15", "16"]
    assert message_lines("") == [""]


def test_chat_headings_name_the_ids_an_owner_would_allow() -> None:
    assert chat_heading(TEAM, ALICE) == '--- group "Team" (chat id -1001234567890) ---'
    assert chat_heading(TelegramChat.private(ALICE), ALICE) == (
        "--- private chat: Alice (@alice, id 1001) ---"
    )
    bo = TelegramUser(id=5, first_name="Bo")
    assert chat_heading(TelegramChat.private(bo), bo) == "--- private chat: Bo (id 5) ---"


def test_the_demo_provider_changes_only_the_model_and_anthropic_in_memory(tmp_path: Path) -> None:
    bot = create_bot(tmp_path / "bot", interactive=False)
    before = bot.config_file.read_bytes()
    loaded = load_config(bot.config_file, {})
    demo = with_demo_provider(loaded, api_base="http://127.0.0.1:9", key=KEY)
    assert demo.config.agents.defaults.model == DEMO_MODEL
    anthropic = demo.config.providers.anthropic
    assert anthropic.api_base == "http://127.0.0.1:9"
    assert isinstance(anthropic.api_key, Secret) and anthropic.api_key.reveal() == KEY
    assert KEY in demo.secret_values and loaded.secret_values <= demo.secret_values
    assert demo.config.tools == loaded.config.tools and demo.config.gateway == loaded.config.gateway
    assert demo.workspace == loaded.workspace and demo.logs_dir == loaded.logs_dir
    assert bot.config_file.read_bytes() == before


def test_only_provider_errors_are_waived() -> None:
    provider = error("no_provider", "No LLM provider configured")
    env_perms = error("env_permissions", ".env is 0644")
    root = warning("running_as_root", "root")
    assert blocking_errors(Report((provider, root))) == ()
    assert blocking_errors(Report((provider, env_perms, root))) == (env_perms,)


def test_the_demo_telegram_is_the_only_channel_in_memory_with_its_own_sessions(
    tmp_path: Path,
) -> None:
    bot = create_bot(tmp_path / "bot", interactive=False, channels=("telegram", "slack"))
    bot.env_file.write_text("TELEGRAM_BOT_TOKEN=987654321:" + "r" * 35 + "\n")
    before = bot.config_file.read_bytes()
    loaded = load_config(bot.config_file, {})
    assert loaded.config.channels.slack.enabled
    state = tmp_path / "state"
    demo = with_demo_telegram(
        loaded, api_base="http://127.0.0.1:9", token=BOT_TOKEN, state_dir=state
    )
    telegram = demo.config.channels.telegram
    assert telegram.enabled and telegram.api_base == "http://127.0.0.1:9"
    assert isinstance(telegram.token, Secret) and telegram.token.reveal() == BOT_TOKEN
    assert (telegram.allow_from, telegram.group_allow_from) == (("@alice",), ("-1001234567890",))
    assert (telegram.dm_policy, telegram.group_policy, telegram.mode) == (
        DmPolicy.ALLOWLIST,
        GroupPolicy.MENTION,
        TelegramMode.POLLING,
    )
    channels = demo.config.channels
    assert not (channels.slack.enabled or channels.whatsapp.enabled or channels.zulip.enabled)
    assert channels.down_grace_seconds == loaded.config.channels.down_grace_seconds
    assert demo.sessions_dir == state / "sessions"
    assert BOT_TOKEN in demo.secret_values and loaded.secret_values <= demo.secret_values
    assert demo.bot_dir == loaded.bot_dir and demo.workspace == loaded.workspace
    assert demo.config.tools == loaded.config.tools and demo.config.gateway == loaded.config.gateway
    assert bot.config_file.read_bytes() == before
    assert not state.exists()  # nothing is created here


def test_the_demo_token_is_shaped_like_a_real_one_and_redacted_by_shape() -> None:
    token = demo_token(random.Random(1))
    assert TOKEN.fullmatch(token) and token != demo_token(random.Random(2))
    bot_id, secret = token.split(":")
    assert 8 <= len(bot_id) <= 10 and len(secret) == 35
    assert demo_bot(token).id == int(bot_id) and demo_bot(token).username == BOT_USERNAME
    assert token not in Redactor(known_secrets=()).redact(f"token {token}")


def _judged(step: Step) -> Action:
    """What the real update parser and access rules make of `step` under the
    demo's Telegram settings."""
    content = FormattedText(text=step.text, entities=find_entities(step.text))
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "from": step.sender.to_api(),
            "chat": step.where.to_api(),
            "date": 0,
            **content.fields("text", "entities"),
        },
    }
    event = parse_update(update, BotIdentity(id=42, username=BOT_USERNAME))
    assert event is not None
    config = demo_telegram_config(api_base="http://127.0.0.1:9", token=BOT_TOKEN)
    policy = AccessPolicy.from_settings(
        "telegram",
        allow_from=config.allow_from,
        dm_policy=config.dm_policy,
        group_policy=config.group_policy,
        group_allow_from=config.group_allow_from,
    )
    decision = decide_access(
        policy,
        Sender(id=event.sender_id, username=event.username),
        Chat(id=event.chat_id, is_group=event.is_group, addressed=event.addressed),
        PairingBook(),
        now=0.0,
        draw_code=lambda: pytest.fail("allowlist mode never draws a code"),
    )
    return decision.action


EXPECTED_ACTIONS = {
    Expect.ANSWER: Action.ALLOW,
    Expect.DENIAL: Action.REPLY_DENIED,
    Expect.SILENCE: Action.DROP,
}


@pytest.mark.parametrize("step", SCENARIO, ids=lambda step: step.text[:30])
def test_each_step_expects_what_the_access_rules_decide(step: Step) -> None:
    assert _judged(step) is EXPECTED_ACTIONS[step.expect]


def test_the_scenario_shows_each_kind_of_outcome_in_private_and_in_the_group() -> None:
    kinds = {(step.where.is_group, step.expect) for step in SCENARIO}
    assert kinds == {
        (False, Expect.ANSWER),
        (False, Expect.DENIAL),
        (True, Expect.ANSWER),
        (True, Expect.SILENCE),
    }
    # Mallory is refused both in private and in the allowed group.
    assert {step.where.id for step in SCENARIO if step.sender == MALLORY} == {MALLORY.id, TEAM.id}
