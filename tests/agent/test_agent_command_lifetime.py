"""`autobot agent` over its whole life, in-process: signals during start-up,
before Trio, at the prompt and during a turn (real signals, exact virtual
times where time matters), and the terminal as a temporary channel actor of
the gateway's tree. The real-process Ctrl-C tests are in
test_agent_command_signals.py."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import pytest
import trio
import trio.testing

from autobot.agent.session_store import SessionStore
from autobot.app import ROUTER_SHUTDOWN_GRACE
from autobot.channels.terminal import PROMPT
from autobot.commands.agent import STOPPING_TEXT, agent_command, agent_main
from autobot.config.load import LoadedConfig, load_config
from autobot.config.schema import ToolsConfig
from autobot.logs.sinks import LOG_FILE_NAME
from autobot.sandbox.probe import SandboxProbe
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply, Step
from autobot.testing.telegram_channel import patient_clock

API_KEY = "sk-ant-api03-lifetime-secret-0123456789abcdef"
BOUND = 60.0  # real sockets and threads: generous, never asserted
SLOW = 3600.0  # a model that never answers within a test
VIRTUAL_BOUND = 3000.0  # under the patient clock: less than SLOW, more than any grace


def _config(tmp_path: Path, api_base: str, sandbox: str = "none") -> Path:
    """A bot the doctor admits (the key in a private .env)."""
    bot = tmp_path / "bot"
    (bot / "workspace").mkdir(parents=True)
    config = bot / "config.yml"
    config.write_text(
        "agents:\n  defaults:\n    model: anthropic/claude-test\n"
        "providers:\n  anthropic:\n    api_key: ${ANTHROPIC_API_KEY}\n"
        f"    api_base: {api_base}\n"
        f"tools:\n  sandbox: {sandbox}\n"
    )
    config.chmod(0o600)
    env = bot / ".env"
    env.write_text(f"ANTHROPIC_API_KEY={API_KEY}\n")
    env.chmod(0o600)
    return config


def _loaded(tmp_path: Path, api_base: str) -> LoadedConfig:
    return load_config(_config(tmp_path, api_base), {})


def _signalling_probe(*signums: int):  # type: ignore[no-untyped-def]
    """A sandbox probe (the doctor's, during start-up) that sends `signums` to
    this process one at a time, each handled before the next, then hangs:
    start-up is provably in progress when they land."""

    async def probe(tools: ToolsConfig) -> SandboxProbe:
        with trio.CancelScope(shield=True):
            for signum in signums:
                os.kill(os.getpid(), signum)
                await trio.testing.wait_all_tasks_blocked()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    return probe


async def _probe_must_not_run(tools: ToolsConfig) -> SandboxProbe:
    raise AssertionError("start-up must not get as far as the sandbox probe")


async def _gated(config: Path, probe, early: tuple[int, ...] = ()) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    out, err = io.StringIO(), io.StringIO()
    with trio.fail_after(BOUND):
        code = await agent_main(
            config,
            message="hi",
            session="cli:x",
            environ={},
            stdin=io.StringIO(),
            stdout=out,
            stderr=err,
            home=config.parent / "home",
            probe=probe,
            early_signals=early,
        )
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_during_start_up_interrupts_it_with_one_line(
    tmp_path: Path, signum: int, code: int
) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", sandbox="bubblewrap")  # never contacted
    result = await _gated(config, _signalling_probe(signum))
    name = signal.Signals(signum).name
    assert result == (
        code,
        "",
        f"autobot: interrupted during start-up ({name}); nothing was started.\n",
    )
    assert not (config.parent / "logs" / LOG_FILE_NAME).exists()  # nothing started


async def test_two_signals_during_start_up_are_still_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", sandbox="bubblewrap")
    result = await _gated(config, _signalling_probe(signal.SIGINT, signal.SIGTERM))
    assert result == (
        143,
        "",
        "autobot: interrupted during start-up (SIGTERM); nothing was started.\n",
    )


async def test_a_signal_before_trio_started_interrupts_start_up(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9", sandbox="bubblewrap")
    result = await _gated(config, _probe_must_not_run, early=(signal.SIGTERM,))
    assert result[:2] == (143, "")
    assert result[2] == "autobot: interrupted during start-up (SIGTERM); nothing was started.\n"


@pytest.fixture
def silent_stdin() -> Iterator[TextIO]:
    """A stdin on a real pipe with no line: `readline` blocks its worker
    thread, as on an idle terminal. Closing the write end afterwards lets
    the abandoned thread end."""
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd, "r") as stdin:
        try:
            yield stdin
        finally:
            os.close(write_fd)


class Screen(io.StringIO):
    """A stdout that can be waited on until it shows some text."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = trio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self._changed.set()
        self._changed = trio.Event()
        return written

    async def shows(self, text: str) -> None:
        while text not in self.getvalue():
            await self._changed.wait()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """Virtual time that jumps only once real threads have been idle a while."""
    return patient_clock()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_a_signal_at_the_prompt_ends_the_chat_at_once(
    tmp_path: Path, silent_stdin: TextIO, signum: int, code: int
) -> None:
    async with serve_fake_anthropic([]) as fake:
        loaded = _loaded(tmp_path, fake.base_url)
        screen, err = Screen(), io.StringIO()
        results: list[int] = []

        async def agent() -> None:
            results.append(
                await agent_command(
                    loaded, message=None, session="x", stdin=silent_stdin, stdout=screen, stderr=err
                )
            )

        with trio.fail_after(BOUND):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(agent)
                await screen.shows(PROMPT)  # the reader thread is blocked
                os.kill(os.getpid(), signum)
    assert results == [code]
    assert err.getvalue() == STOPPING_TEXT
    assert screen.getvalue() == PROMPT
    assert fake.requests == []
    log = (loaded.logs_dir / LOG_FILE_NAME).read_text()
    assert "channels: cli exited" in log and "cli restarting" not in log


async def test_a_signal_during_a_turn_stops_after_the_routers_grace(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    arrived = trio.Event()

    def slow_model(body: Mapping[str, Any]) -> Step:
        arrived.set()
        return ScriptedReply(text="too late", latency=SLOW)

    async with serve_fake_anthropic(handler=slow_model) as fake:
        loaded = _loaded(tmp_path, fake.base_url)
        out, err = io.StringIO(), io.StringIO()
        results: list[tuple[int, float]] = []

        async def agent() -> None:
            code = await agent_command(
                loaded, message="hello", session="x", stdin=io.StringIO(), stdout=out, stderr=err
            )
            results.append((code, trio.current_time()))

        with trio.fail_after(VIRTUAL_BOUND):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(agent)
                await arrived.wait()
                signalled_at = trio.current_time()
                os.kill(os.getpid(), signal.SIGTERM)
    [(code, ended_at)] = results
    assert code == 143
    # graceful: the turn in progress had the router's grace, then was cancelled
    assert ended_at - signalled_at == ROUTER_SHUTDOWN_GRACE
    assert (out.getvalue(), err.getvalue()) == ("", STOPPING_TEXT)
    assert len(fake.requests) == 1


async def test_the_terminal_is_a_temporary_channel_of_the_tree(tmp_path: Path) -> None:
    async with serve_fake_anthropic([ScriptedReply(text="hello from the router")]) as fake:
        loaded = _loaded(tmp_path, fake.base_url)
        out, err = io.StringIO(), io.StringIO()
        with trio.fail_after(BOUND):
            code = await agent_command(
                loaded,
                message="hi",
                session="telegram:42",  # the terminal may stand for any channel's chat
                stdin=io.StringIO(),
                stdout=out,
                stderr=err,
            )
    assert (code, out.getvalue(), err.getvalue()) == (0, "hello from the router\n", "")
    log = (loaded.logs_dir / LOG_FILE_NAME).read_text()
    # started under the channel supervisor before the router, ended on its own, never restarted
    assert log.index("channels: telegram started") < log.index("root: router started")
    assert "channels: telegram exited" in log
    assert "telegram restarting" not in log
    session = SessionStore(loaded.sessions_dir, loaded.workspace).load("telegram:42")
    assert [m.content for m in session.messages] == ["hi", "hello from the router"]


class BrokenScreen(io.StringIO):
    """A stdout whose reader went away (`autobot agent | true`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


async def test_a_terminal_that_fails_ends_the_agent_with_one_line(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, "http://127.0.0.1:9")  # never contacted
    err = io.StringIO()
    with trio.fail_after(BOUND):
        code = await agent_command(
            loaded,
            message=None,
            session="x",
            stdin=io.StringIO("hi\n"),
            stdout=BrokenScreen(),
            stderr=err,
        )
    log_file = loaded.logs_dir / LOG_FILE_NAME
    assert code == 1
    assert err.getvalue() == (
        f"autobot: the terminal stopped without ending the conversation; details in {log_file}\n"
    )
    log = log_file.read_text()
    assert "channels: cli failed" in log and "BrokenPipeError" in log
    assert "cli restarting" not in log
    assert "root: router stopped" in log  # the tree was stopped gracefully
