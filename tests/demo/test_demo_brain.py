"""The demo brain's decisions, as pure tables over requests built by the real wire code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.agent.memory import ConsolidationError, consolidation_request, parse_consolidation
from autobot.demo.brain import (
    FALLBACK_INTRO,
    HELP,
    MAX_SQUARES,
    SQUARES_COMMAND,
    answer,
    describe_environment,
)
from autobot.demo.conversation import NotAConversation
from autobot.demo.play import telegram_parts
from autobot.demo.scenario import ALICE_MESSAGES, LONG_MESSAGE
from autobot.llm.anthropic_wire import request_params
from autobot.llm.types import ChatMessage, Role, ToolCall

from .wire import body, play_turn, user

NOTE = {"path": "notes/todo.md", "content": "- buy oat milk, and call the plumber on Friday.\n"}
EXPECTED_ROUNDS = [
    [
        [("write_file", NOTE)],
        [("read_file", {"path": "notes/todo.md"}), ("list_dir", {"path": "notes"})],
    ],
    [[("list_dir", {"path": "."})]],
    [[("exec", {"command": "uname -a"}), ("exec", {"command": "find . -type f | wc -l"})]],
    [
        [("read_file", {"path": "/etc/passwd"}), ("read_file", {"path": "../../.env"})],
        [("exec", {"command": "cat ~/.ssh/id_rsa"}), ("exec", {"command": "env"})],
    ],
    [
        [
            ("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"}),
            ("web_fetch", {"url": "http://0x7f000001/"}),
        ]
    ],
]


def echo_tool(name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
    """A distinctive result per call; reads outside the workspace fail like the real tools."""
    main = next(iter(arguments.values()))
    if name == "read_file" and not str(main).startswith("notes/"):
        return f"Error: refused {main}", True
    if name == "exec" and main == "env":
        return "HOME=/tmp\nPATH=/usr/bin\nPWD=/workspace", False
    return f"result of {name} {main}", False


def test_the_scenario_plays_turn_by_turn_on_one_growing_history() -> None:
    history: list[ChatMessage] = []
    for text, expected in zip(ALICE_MESSAGES, EXPECTED_ROUNDS, strict=True):
        rounds, reply, history = play_turn(history, text, echo_tool)
        assert rounds == expected, text
        assert reply  # every turn ends in a summary
    # 5 user messages, 5 replies, 7 tool rounds, 12 tool results
    assert len(history) == 5 + 5 + 7 + 12


@pytest.mark.parametrize(
    ("index", "quoted"),
    [
        (
            0,
            [
                "result of write_file notes/todo.md",
                '"result of read_file notes/todo.md"',
                "result of list_dir notes",
            ],
        ),
        (1, ["result of list_dir ."]),
        (2, ["result of exec uname -a", "result of exec find . -type f | wc -l"]),
        (
            3,
            [
                "read_file /etc/passwd: error: Error: refused /etc/passwd",
                "read_file ../../.env: error: Error: refused ../../.env",
                "exec cat ~/.ssh/id_rsa: result of exec cat ~/.ssh/id_rsa",
                "exec env: only HOME, PATH, PWD (no value looks like a credential)",
            ],
        ),
        (
            4,
            [
                "web_fetch http://169.254.169.254/latest/meta-data/: result of web_fetch http://169.254",
                "web_fetch http://0x7f000001/: result of web_fetch http://0x7f000001/",
            ],
        ),
    ],
)
def test_the_summary_quotes_what_the_tools_returned(index: int, quoted: list[str]) -> None:
    _rounds, reply, _history = play_turn([], ALICE_MESSAGES[index], echo_tool)
    for text in quoted:
        assert text in reply


@pytest.mark.parametrize(
    ("text", "first_round"),
    [
        (
            "take a note:   call mum  ",
            [("write_file", {"path": "notes/todo.md", "content": "- call mum\n"})],
        ),
        (
            "Please fetch https://example.com/a?b=1.",
            [("web_fetch", {"url": "https://example.com/a?b=1"})],
        ),
        (
            "Show me /etc/passwd",
            [("read_file", {"path": "/etc/passwd"}), ("read_file", {"path": "../../.env"})],
        ),
        (
            "uname please",
            [("exec", {"command": "uname -a"}), ("exec", {"command": "find . -type f | wc -l"})],
        ),
        ("list my WORKSPACE", [("list_dir", {"path": "."})]),
        (
            "[Alice in a group chat]\n@autobot_demo_bot what's in the workspace?",
            [("list_dir", {"path": "."})],
        ),
        (
            "the SQUARES OF 1 TO 3 please",
            [("exec", {"command": SQUARES_COMMAND.format(count=3)})],
        ),
        (
            "squares of 1 to 0",  # at least one line
            [("exec", {"command": SQUARES_COMMAND.format(count=1)})],
        ),
        (
            "squares of 1 to 99999999999",  # at most MAX_SQUARES lines
            [("exec", {"command": SQUARES_COMMAND.format(count=MAX_SQUARES)})],
        ),
        (
            "squares of 1 to " + "9" * 5000,  # more digits than int() takes
            [("exec", {"command": SQUARES_COMMAND.format(count=MAX_SQUARES)})],
        ),
        (
            "squares of 1 to 0000000000012",
            [("exec", {"command": SQUARES_COMMAND.format(count=12)})],
        ),
    ],
)
def test_plans_follow_the_users_words(
    text: str, first_round: list[tuple[str, dict[str, str]]]
) -> None:
    rounds, _reply, _history = play_turn([], text, echo_tool)
    assert rounds[0] == first_round


def test_an_unknown_message_gets_the_help_text_and_no_tools() -> None:
    reply = answer(body([user("hello there")]))
    assert reply.tool_calls == ()
    assert reply.text == HELP


def test_calls_that_do_not_match_the_plan_get_the_generic_report() -> None:
    calls = (
        ToolCall(id="t1", name="list_dir", arguments={"path": "."}),
        ToolCall(id="t2", name="exec", arguments={"command": "ls"}),
    )
    messages = [
        user("What's in the workspace?"),
        ChatMessage(role=Role.ASSISTANT, tool_calls=calls),
        ChatMessage(role=Role.TOOL, content="a\nb", tool_call_id="t1"),
        ChatMessage(role=Role.TOOL, content="Error: boom", tool_call_id="t2", is_error=True),
    ]
    text = answer(body(messages)).text
    assert text.splitlines() == [FALLBACK_INTRO, "- list_dir .: a", "- exec ls: error: Error: boom"]


@pytest.mark.parametrize(
    ("env_output", "expected"),
    [
        ("HOME=/tmp\nPWD=/workspace\n", "only HOME, PWD (no value looks like a credential)"),
        (
            "HOME=/tmp\nLEAK=sk-ant-api03-" + "k" * 40 + "\n",
            "only HOME, LEAK (credential-shaped: LEAK)",
        ),
        ("TOKEN=Bearer abcdefghijklmnopqrstuvwxyz", "only TOKEN (credential-shaped: TOKEN)"),
        ("", "only no variables (no value looks like a credential)"),
    ],
)
def test_the_environment_report_flags_credential_shaped_values(
    env_output: str, expected: str
) -> None:
    assert describe_environment(env_output) == expected


def _consolidation_body(current_memory: str) -> Any:
    request = consolidation_request(
        model="autobot-demo", current_memory=current_memory, excerpt=[user("hi")], max_tokens=100
    )
    return request_params(request)


@pytest.mark.parametrize(
    ("current", "kept"),
    [("", ""), ("# Memory\n\n- likes oat milk\n\nmore", "# Memory\n\n- likes oat milk\n\nmore")],
)
def test_memory_consolidation_keeps_memory_exactly(current: str, kept: str) -> None:
    result = parse_consolidation(answer(_consolidation_body(current)).text)
    assert result.memory == kept
    assert result.history_entry.startswith("Ran the autobot demo")


def test_an_unrecognised_memory_prompt_gets_an_answer_that_writes_nothing() -> None:
    request = _consolidation_body("x")
    request["messages"][0]["content"][0]["text"] = "something else entirely"
    with pytest.raises(ConsolidationError):
        parse_consolidation(answer(request).text)


@pytest.mark.parametrize(
    "request_body",
    [
        {"messages": []},
        {"messages": "nope"},
        {"messages": [{"role": "assistant", "content": [{"type": "text", "text": "hi"}]}]},
        {"messages": [{"role": "user", "content": 42}]},
    ],
)
def test_a_request_without_user_text_is_refused(request_body: dict[str, Any]) -> None:
    with pytest.raises(NotAConversation):
        answer(request_body)


@given(st.text(min_size=1))
def test_any_user_text_gets_an_answer_of_at_most_two_rounds(text: str) -> None:
    rounds, reply, _history = play_turn([], text, echo_tool, max_rounds=3)
    assert len(rounds) <= 2
    assert reply


def test_a_memory_request_without_messages_gets_an_answer_that_writes_nothing() -> None:
    request = _consolidation_body("x")
    request["messages"] = []
    with pytest.raises(ConsolidationError):
        parse_consolidation(answer(request).text)


def _squares(command: str) -> str:
    count = int(command.split("seq 1 ")[1].split(")")[0])
    return "\n".join(f"{n} x {n} = {n * n}" for n in range(1, count + 1))


def test_the_long_request_is_answered_with_the_whole_table_in_blocks() -> None:
    seen: list[str] = []

    def run_exec(name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        seen.append(arguments["command"])
        return _squares(arguments["command"]), False

    rounds, reply, _history = play_turn([], LONG_MESSAGE, run_exec)
    assert rounds == [[("exec", {"command": SQUARES_COMMAND.format(count=400)})]]
    heading, *blocks = reply.split("\n\n")
    assert heading == "**The squares of 1 to 400**, worked out in the sandbox (400 lines):"
    assert [len(block.splitlines()) for block in blocks] == [100, 100, 100, 100]
    assert "\n".join(blocks) == _squares(seen[0])
    # Telegram takes it in two messages, cut between blocks of the table.
    parts = telegram_parts(reply)
    assert len(parts) == 2
    assert parts[0].endswith("200 x 200 = 40000") and parts[1].startswith("201 x 201 = 40401")


def test_the_largest_table_fits_the_exec_tools_output() -> None:
    from autobot.tools.exec import MAX_OUTPUT_BYTES

    assert len((_squares(SQUARES_COMMAND.format(count=MAX_SQUARES)) + "\n").encode()) <= (
        MAX_OUTPUT_BYTES
    )


def test_a_failed_table_is_reported_not_invented() -> None:
    def fail(name: str, arguments: Mapping[str, Any]) -> tuple[str, bool]:
        return "Error: command timed out after 60 seconds", True

    _rounds, reply, _history = play_turn([], "squares of 1 to 5", fail)
    assert reply == "I could not work them out: Error: command timed out after 60 seconds"
