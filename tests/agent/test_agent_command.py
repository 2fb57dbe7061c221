"""End to end: `agent_command -m` against the loopback Anthropic fake, real SDK,
real sandbox pool (bubblewrap), real journal and log file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import trio

from autobot.agent.session_store import SessionStore
from autobot.commands.agent import agent_command, parse_session
from autobot.config.load import load_config
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedError, ScriptedReply, ScriptedToolCall

API_KEY = "sk-ant-api03-e2e-secret-key-0123456789abcdef"
TIMEOUT = 60  # real sockets and processes: generous, never asserted


def _bot(tmp_path: Path, api_base: str | None, *, sandbox: str = "bubblewrap") -> Path:
    bot = tmp_path / "bot"
    (bot / "workspace").mkdir(parents=True)
    provider = (
        f"providers:\n  anthropic:\n    api_key: ${{ANTHROPIC_API_KEY}}\n    api_base: {api_base}\n"
        if api_base
        else ""
    )
    (bot / "config.yml").write_text(
        "agents:\n  defaults:\n    model: anthropic/claude-test\n"
        f"{provider}tools:\n  sandbox: {sandbox}\n"
    )
    (bot / "workspace" / "AGENTS.md").write_text("Always be brief.")
    return bot


def _run(bot: Path, message: str | None, stdin: str = "") -> tuple[int, str, str]:
    loaded = load_config(bot / "config.yml", {"ANTHROPIC_API_KEY": API_KEY})
    out, err = io.StringIO(), io.StringIO()

    async def main() -> int:
        with trio.fail_after(TIMEOUT):
            return await agent_command(
                loaded,
                message=message,
                session="cli:e2e",
                stdin=io.StringIO(stdin),
                stdout=out,
                stderr=err,
            )

    return trio.run(main), out.getvalue(), err.getvalue()


def test_multi_step_tool_use_through_the_real_stack(tmp_path: Path) -> None:
    script = [
        ScriptedReply(
            text="I'll write it.",
            tool_calls=(
                ScriptedToolCall(
                    name="write_file", arguments={"path": "notes/todo.txt", "content": "buy tea"}
                ),
            ),
        ),
        ScriptedReply(
            tool_calls=(ScriptedToolCall(name="exec", arguments={"command": "cat notes/todo.txt"}),)
        ),
        ScriptedReply(text="Saved: buy tea", input_tokens=40, output_tokens=7),
    ]
    result: dict[str, object] = {}

    async def scenario() -> None:
        async with serve_fake_anthropic(script) as fake:
            bot = _bot(tmp_path, fake.base_url)
            loaded = load_config(bot / "config.yml", {"ANTHROPIC_API_KEY": API_KEY})
            out, err = io.StringIO(), io.StringIO()
            with trio.fail_after(TIMEOUT):
                result["code"] = await agent_command(
                    loaded,
                    message="note: buy tea",
                    session="cli:e2e",
                    stdin=io.StringIO(),
                    stdout=out,
                    stderr=err,
                )
            result.update(
                out=out.getvalue(),
                err=err.getvalue(),
                bodies=fake.bodies(),
                headers=[r.headers for r in fake.requests],
                bot=bot,
            )

    trio.run(scenario)
    assert result["code"] == 0, result["err"]
    assert result["out"] == "Saved: buy tea\n"
    bot = result["bot"]
    assert isinstance(bot, Path)
    assert (bot / "workspace" / "notes" / "todo.txt").read_text() == "buy tea"
    bodies = result["bodies"]
    assert isinstance(bodies, list) and len(bodies) == 3
    assert bodies[0]["model"] == "claude-test"
    assert "Always be brief." in str(bodies[0]["system"])
    # the exec result (stdout of cat inside the sandbox) went back to the model
    assert "buy tea" in str(bodies[2]["messages"])
    headers = result["headers"]
    assert isinstance(headers, list)
    assert API_KEY in str(dict(headers[0]))  # the credential reached the (fake) API only
    # journal and log file
    store = SessionStore(bot / "sessions", bot / "workspace")
    loaded_session = store.load("cli:e2e")
    assert loaded_session.messages[0].content == "note: buy tea"
    assert loaded_session.messages[-1].content == "Saved: buy tea"
    log = (bot / "logs" / "autobot.log").read_text()
    assert "Executing tool: write_file" in log
    assert "Executing tool: exec" in log
    assert "Tokens: in=40 out=7" in log
    assert API_KEY not in log


def test_provider_failure_exits_non_zero_with_a_generic_apology(tmp_path: Path) -> None:
    outcome: dict[str, object] = {}

    async def scenario() -> None:
        async with serve_fake_anthropic([ScriptedError(status=401)]) as fake:
            bot = _bot(tmp_path, fake.base_url)
            loaded = load_config(bot / "config.yml", {"ANTHROPIC_API_KEY": API_KEY})
            out, err = io.StringIO(), io.StringIO()
            with trio.fail_after(TIMEOUT):
                outcome["code"] = await agent_command(
                    loaded,
                    message="hi",
                    session="cli:e2e",
                    stdin=io.StringIO(),
                    stdout=out,
                    stderr=err,
                )
            outcome.update(out=out.getvalue(), err=err.getvalue(), bot=bot)

    trio.run(scenario)
    assert outcome["code"] == 1
    assert str(outcome["out"]).startswith("Sorry, something went wrong")
    err = str(outcome["err"])
    bot_dir = outcome["bot"]
    # the log-safe reason, never the response body or a secret
    assert err == (
        "autobot: the turn failed: anthropic: HTTP 401 authentication_error after 1 attempt "
        f"(request id req_1); details in {bot_dir}/logs/autobot.log\n"
    )
    assert "scripted error" not in err and API_KEY not in err
    bot = outcome["bot"]
    assert isinstance(bot, Path)
    log = (bot / "logs" / "autobot.log").read_text()
    assert "LLM call failed" in log
    assert API_KEY not in log and API_KEY not in str(outcome["out"])


def test_no_provider_configured_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = _run(_bot(tmp_path, None), "hi")
    assert code == 1
    assert out == ""
    assert err == (
        "autobot: model 'anthropic/claude-test' needs provider 'anthropic': "
        "set providers.anthropic.api_key\n"
    )


def test_interactive_chat_until_exit(tmp_path: Path) -> None:
    script = [ScriptedReply(text="hello there"), ScriptedReply(text="still here")]
    captured: dict[str, object] = {}

    async def scenario() -> None:
        async with serve_fake_anthropic(script) as fake:
            bot = _bot(tmp_path, fake.base_url)
            loaded = load_config(bot / "config.yml", {"ANTHROPIC_API_KEY": API_KEY})
            out = io.StringIO()
            with trio.fail_after(TIMEOUT):
                captured["code"] = await agent_command(
                    loaded,
                    message=None,
                    session="e2e",
                    stdin=io.StringIO("hi\n\nagain\nexit\nnever sent\n"),
                    stdout=out,
                    stderr=io.StringIO(),
                )
            captured["out"] = out.getvalue()
            captured["requests"] = len(fake.requests)

    trio.run(scenario)
    assert captured["code"] == 0
    assert "autobot> hello there" in str(captured["out"])
    assert "autobot> still here" in str(captured["out"])
    assert captured["requests"] == 2


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("cli:default", ("cli", "default")),
        ("telegram:42", ("telegram", "42")),
        ("mine", ("cli", "mine")),
        (":x", ("cli", ":x")),
        ("", ("cli", "default")),
    ],
)
def test_parse_session(given: str, expected: tuple[str, str]) -> None:
    assert parse_session(given) == expected
