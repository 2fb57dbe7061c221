"""Pure parts of the demo: reading turns, checking the log, printing, the provider swap."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from autobot.config import load_config
from autobot.config.secret import Secret
from autobot.demo.conversation import Exchange, current_turn
from autobot.demo.logcheck import check_log, end_marker, start_marker
from autobot.demo.provider import DEMO_MODEL, blocking_errors, demo_key, with_demo_provider
from autobot.demo.transcript import exchange_text, prefixed, result_lines
from autobot.doctor.findings import Report, error, warning
from autobot.llm.types import ChatMessage, Role, ToolCall
from autobot.logs.redact import Redactor
from autobot.scaffold.create import create_bot

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
            False,
        ),
        (_log(f"x INFO {start_marker('r1')}", "x WARN ACCESS DENIED: a"), False, 1, 0, False),
        (_log(f"x INFO {start_marker('r2')}", f"x INFO {end_marker('r1')}"), False, 0, 0, False),
        (
            _log(f"x INFO {start_marker('r1')}", f"x INFO {end_marker('r1')}", f"leak {KEY}"),
            True,
            0,
            0,
            True,
        ),
        ("", False, 0, 0, False),
    ],
)
def test_the_log_check_counts_this_runs_lines_and_finds_the_key_anywhere(
    text: str, complete: bool, denied: int, redacted: int, found: bool
) -> None:
    check = check_log(text, run_id="r1", key=KEY)
    assert (check.complete, check.access_denied, check.redacted, check.key_found) == (
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
    check = check_log(text, run_id="r", key=KEY)
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


def test_an_exchange_prints_user_tools_and_aligned_reply() -> None:
    text = exchange_text(
        "hi",
        [
            Exchange(
                name="read_file",
                arguments={"path": "/etc/passwd"},
                result="Error: no",
                is_error=True,
            )
        ],
        ["line one\nline two"],
    )
    assert text == (
        "you> hi\n"
        "  [tool] read_file /etc/passwd  (error)\n"
        "         Error: no\n"
        "autobot> line one\n"
        "         line two\n"
    )
    assert prefixed("> ", "") == "> "


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
