"""Repair on load: a torn or corrupt journal never yields an unpaired tool call.

The real Anthropic and OpenAI APIs reject (400, on every later request) a
tool call without its result and a result without its call; the loopback
fakes check the same (`tool_pairing_problem`), so these tests hold the
repaired history against both wire dialects.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.agent.session_store import (
    INTERRUPTED_RESULT,
    SessionStore,
    encode_message,
    interrupted_result,
    pair_tool_results,
)
from autobot.llm.anthropic_wire import request_params
from autobot.llm.openai_wire import request_body
from autobot.llm.types import ChatMessage, LLMRequest, Role, ToolCall
from autobot.testing import fake_anthropic, fake_openai

USER = ChatMessage(role=Role.USER, content="tidy up")
CALLS = (
    ToolCall(id="c1", name="write_file", arguments={"path": "a.txt", "content": "x"}),
    ToolCall(id="c2", name="exec", arguments={"command": "rm b.txt"}),
)
ASKS = ChatMessage(role=Role.ASSISTANT, content="On it.", tool_calls=CALLS)
RESULT_1 = ChatMessage(role=Role.TOOL, content="Wrote 1 bytes", tool_call_id="c1")
RESULT_2 = ChatMessage(role=Role.TOOL, content="exit code 0", tool_call_id="c2")
FINAL = ChatMessage(role=Role.ASSISTANT, content="Done.")
TURN = (USER, ASKS, RESULT_1, RESULT_2, FINAL)
NEXT = ChatMessage(role=Role.USER, content="and now?")


def _problems(history: tuple[ChatMessage, ...] | list[ChatMessage]) -> tuple[str | None, ...]:
    """What each dialect's real API (as the fakes model it) would say about `history`."""
    request = LLMRequest(model="m", system="s", messages=tuple(history))
    return (
        fake_anthropic.tool_pairing_problem(request_params(request)),
        fake_openai.tool_pairing_problem(request_body(request)),
    )


def test_a_well_formed_history_is_untouched() -> None:
    assert pair_tool_results(TURN) == (list(TURN), 0, 0)
    assert _problems(TURN) == (None, None)


def test_a_batch_cut_after_the_assistant_line_gets_interrupted_results() -> None:
    cut = [USER, ASKS]
    assert all(problem is not None for problem in _problems([*cut, NEXT]))  # what bricked it
    repaired, answered, dropped = pair_tool_results(cut)
    assert repaired == [USER, ASKS, interrupted_result(CALLS[0]), interrupted_result(CALLS[1])]
    assert (answered, dropped) == (2, 0)
    assert _problems([*repaired, NEXT]) == (None, None)
    assert repaired[2].is_error and repaired[2].content == INTERRUPTED_RESULT


def test_a_missing_result_is_answered_after_the_ones_that_arrived() -> None:
    repaired, answered, _ = pair_tool_results([USER, ASKS, RESULT_2, FINAL, NEXT])
    assert repaired == [USER, ASKS, RESULT_2, interrupted_result(CALLS[0]), FINAL, NEXT]
    assert answered == 1
    assert _problems(repaired) == (None, None)


def test_results_whose_call_was_lost_are_dropped() -> None:
    # the assistant line was corrupt and skipped: its results answer nothing
    repaired, answered, dropped = pair_tool_results([USER, RESULT_1, RESULT_2, FINAL, NEXT])
    assert repaired == [USER, FINAL, NEXT]
    assert (answered, dropped) == (0, 2)
    assert _problems(repaired) == (None, None)


def test_a_duplicated_result_is_dropped() -> None:
    repaired, _, dropped = pair_tool_results([USER, ASKS, RESULT_1, RESULT_1, RESULT_2])
    assert repaired == [USER, ASKS, RESULT_1, RESULT_2]
    assert dropped == 1


def test_load_reports_the_repair(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", tmp_path / "workspace")
    store.append("t:1", [encode_message(m) for m in (USER, ASKS)])
    loaded = store.load("t:1")
    assert (loaded.answered_calls, loaded.dropped_results, loaded.damaged) == (2, 0, True)
    assert loaded.messages[2:] == (interrupted_result(CALLS[0]), interrupted_result(CALLS[1]))
    # repaired in memory only: the file holds what was written
    assert store.path_for("t:1").read_text().count("\n") == 2


_MESSAGES = st.lists(
    st.sampled_from([USER, ASKS, RESULT_1, RESULT_2, FINAL, NEXT]), min_size=0, max_size=12
)


@given(history=_MESSAGES)
def test_any_sequence_is_repaired_into_one_both_dialects_accept(
    history: list[ChatMessage],
) -> None:
    repaired, _, _ = pair_tool_results(history)
    assert _problems([*repaired, NEXT]) == (None, None)


@given(history=_MESSAGES, later=_MESSAGES)
def test_repair_is_stable_as_the_journal_grows(
    history: list[ChatMessage], later: list[ChatMessage]
) -> None:
    """Turns append after a user message; whatever follows, the repaired
    prefix is unchanged, so message indexes (`consolidated`) stay valid."""
    before, _, _ = pair_tool_results(history)
    after, _, _ = pair_tool_results([*history, NEXT, *later])
    assert after[: len(before) + 1] == [*before, NEXT]


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(min_value=0))
def test_a_turn_torn_at_any_byte_loads_into_a_valid_request(
    tmp_path_factory: pytest.TempPathFactory, cut: int
) -> None:
    root = tmp_path_factory.mktemp("torn")
    store = SessionStore(root / "sessions", root / "workspace")
    store.append("t:1", [encode_message(USER)], sync=False)
    path = store.path_for("t:1")
    kept = path.stat().st_size
    store.append("t:1", [encode_message(m) for m in TURN[1:]])
    data = path.read_bytes()
    path.write_bytes(data[: kept + cut % (len(data) - kept + 1)])
    loaded = store.load("t:1")
    assert loaded.messages[0] == USER
    assert _problems([*loaded.messages, NEXT]) == (None, None)
