"""A session whose journal was torn mid-turn keeps working, in both wire dialects.

The journal ends in an assistant tool call with no result (the turn's batch
was cut after its first line). Real APIs answer every later request with 400;
the loopback fakes do the same, so these runs prove the repair on load.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import trio

from autobot.agent.session_store import INTERRUPTED_RESULT, SessionStore, encode_message
from autobot.commands.agent import agent_command
from autobot.config.load import load_config
from autobot.llm.types import ChatMessage, Role, ToolCall
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.fake_openai import serve_fake_openai
from autobot.testing.llm_script import ScriptedReply

KEY = "sk-test-repair-0123456789abcdef"
TIMEOUT = 60  # real sockets and processes: generous, never asserted

DIALECTS = {
    "anthropic": (serve_fake_anthropic, "anthropic/claude-test"),
    "openai": (serve_fake_openai, "openai/gpt-test"),
}


def _torn_journal(bot: Path) -> Path:
    store = SessionStore(bot / "sessions", bot / "workspace")
    asks = ChatMessage(
        role=Role.ASSISTANT,
        content="Writing it.",
        tool_calls=(ToolCall(id="t1", name="write_file", arguments={"path": "a", "content": "x"}),),
    )
    entries = [encode_message(m) for m in (ChatMessage(role=Role.USER, content="save x"), asks)]
    store.append("cli:e2e", entries)
    return store.path_for("cli:e2e")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_a_torn_turn_does_not_brick_the_session(tmp_path: Path, dialect: str) -> None:
    serve, model = DIALECTS[dialect]
    result: dict[str, object] = {}

    async def scenario() -> None:
        async with serve([ScriptedReply(text="Back again.")]) as fake:
            bot = tmp_path / "bot"
            (bot / "workspace").mkdir(parents=True)
            (bot / "config.yml").write_text(
                f"agents:\n  defaults:\n    model: {model}\n"
                f"providers:\n  {dialect}:\n    api_key: ${{KEY}}\n    api_base: {fake.base_url}\n"
                "tools:\n  sandbox: bubblewrap\n"
            )
            journal = _torn_journal(bot)
            loaded = load_config(bot / "config.yml", {"KEY": KEY})
            out, err = io.StringIO(), io.StringIO()
            with trio.fail_after(TIMEOUT):
                result["code"] = await agent_command(
                    loaded,
                    message="are you there?",
                    session="cli:e2e",
                    stdin=io.StringIO(),
                    stdout=out,
                    stderr=err,
                )
            result.update(
                out=out.getvalue(),
                err=err.getvalue(),
                bodies=fake.bodies(),
                log=(bot / "logs" / "autobot.log").read_text(),
                journal=journal.read_text(),
            )

    trio.run(scenario)
    assert (result["code"], result["out"], result["err"]) == (0, "Back again.\n", "")
    bodies = result["bodies"]
    assert isinstance(bodies, list) and len(bodies) == 1
    # the model is told the call was interrupted, then sees the new message
    assert INTERRUPTED_RESULT in str(bodies[0]["messages"])
    assert "are you there?" in str(bodies[0]["messages"][-1])
    log = str(result["log"])
    assert "Session journal repaired on load" in log and "unanswered_tool_calls=1" in log
    # the journal itself is only appended to
    assert INTERRUPTED_RESULT not in str(result["journal"])
