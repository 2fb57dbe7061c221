"""The doctor gates `autobot agent` exactly as it gates `autobot gateway`:
the same checks, the same report (printed once), the same exit code, and
nothing started (no model request, no log, no journal) on a refusal."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import trio

from autobot.cli import main
from autobot.commands.agent import agent_main
from autobot.commands.gateway import serve
from autobot.doctor.gate import REFUSED_EXIT_CODE
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply

from .botdir import ANTHROPIC_KEY, Bot, make_bot, probe_ok

TIMEOUT = 60  # real sockets: generous, never asserted
AGENT_REFUSAL = "autobot: the agent refuses to start until these errors are fixed.\n"
GATEWAY_REFUSAL = "autobot: the gateway refuses to start until these errors are fixed.\n"


def _bot(root: Path, api_base: str, override: dict[str, Any] | None = None, **kwargs: Any) -> Bot:
    config: dict[str, Any] = {
        "agents": {"defaults": {"model": "anthropic/claude-test"}},
        "providers": {"anthropic": {"api_base": api_base}},
        "tools": {"sandbox": "none"},  # a turn without tools: no sandbox needed
    }
    for key, value in (override or {}).items():
        config[key] = {**config.get(key, {}), **value}
    return make_bot(root, config, **kwargs)


async def _agent(bot: Bot, home: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with trio.fail_after(TIMEOUT):
        code = await agent_main(
            bot.config,
            message="hi",
            session="cli:gate",
            environ={},
            stdin=io.StringIO(),
            stdout=out,
            stderr=err,
            home=home,
            probe=probe_ok,
        )
    return code, out.getvalue(), err.getvalue()


async def _gateway(bot: Bot, home: Path) -> tuple[int, str]:
    err = io.StringIO()
    with trio.fail_after(TIMEOUT):
        code = await serve(bot.config, environ={}, stderr=err, home=home, probe=probe_ok)
    return code, err.getvalue()


async def test_a_clean_bot_is_admitted_and_its_warnings_printed_once(tmp_path: Path) -> None:
    async with serve_fake_anthropic([ScriptedReply(text="hello")]) as fake:
        bot = _bot(tmp_path / "bot", fake.base_url)
        code, out, err = await _agent(bot, tmp_path / "home")
    assert (code, out) == (0, "hello\n")
    assert len(fake.requests) == 1
    assert err.count("Summary: 0 errors, ") == 1  # the sandbox: none warning
    assert "tools.sandbox: none" in err
    assert "refuses" not in err


def _plaintext(root: Path, api_base: str) -> Bot:
    return _bot(root, api_base, {"providers": {"anthropic": {"api_key": ANTHROPIC_KEY}}}, env="")


def _env_readable(root: Path, api_base: str) -> Bot:
    return _bot(root, api_base, env_mode=0o644)


def _env_in_workspace(root: Path, api_base: str) -> Bot:
    return _bot(root, api_base, {"agents": {"defaults": {"workspace": "."}}})


def _key_forwarded(root: Path, api_base: str) -> Bot:
    return _bot(root, api_base, {"tools": {"sandbox_env": ["ANTHROPIC_API_KEY"]}})


DEFECTS = {
    "plaintext key": (_plaintext, "Plaintext secret in config.yml line"),
    ".env 0644": (_env_readable, ".env file has insecure permissions 0644"),
    ".env in the workspace": (_env_in_workspace, "is inside the workspace"),
    "key forwarded": (_key_forwarded, "tools.sandbox_env forwards ANTHROPIC_API_KEY"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
async def test_a_doctor_error_refuses_the_agent_as_it_refuses_the_gateway(
    tmp_path: Path, defect: str
) -> None:
    build, wording = DEFECTS[defect]
    async with serve_fake_anthropic([ScriptedReply(text="must not be asked")]) as fake:
        bot = build(tmp_path / "bot", fake.base_url)
        code, out, err = await _agent(bot, tmp_path / "home")
        gateway_code, gateway_err = await _gateway(bot, tmp_path / "home")
    assert code == gateway_code == REFUSED_EXIT_CODE
    assert out == ""
    assert err.endswith(AGENT_REFUSAL) and gateway_err.endswith(GATEWAY_REFUSAL)
    report = err.removesuffix(AGENT_REFUSAL)
    assert report == gateway_err.removesuffix(GATEWAY_REFUSAL)  # the same report
    assert report.count("Summary: ") == 1 and report.startswith("ERRORS (")
    assert wording in report
    assert ANTHROPIC_KEY not in err
    # nothing started: no model request, no log file, no journal
    assert fake.requests == []
    assert not (bot.root / "logs").exists()
    assert not (bot.root / "sessions").exists()


def test_the_cli_agent_refuses_with_the_report_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = _plaintext(tmp_path / "bot", "http://127.0.0.1:9")  # never contacted
    assert main(["--config", str(bot.config), "agent", "-m", "hi"]) == REFUSED_EXIT_CODE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("Summary: ") == 1
    assert "Plaintext secret in config.yml line" in captured.err
    assert captured.err.endswith(AGENT_REFUSAL)
    assert "Traceback" not in captured.err
    assert not (bot.root / "sessions").exists()
