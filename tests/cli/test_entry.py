"""The console script's loading window: quiet Ctrl-C and SIGTERM, handlers restored.

The window covers importing the command line and then the command's own code
(`autobot.cli` imports it in the command's branch, under `loading()`)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot import __version__, cli
from autobot.entry import Main, run
from autobot.loading import INTERRUPTED_EXIT, TERMINATED_EXIT, loading


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    before = signal.getsignal(signal.SIGTERM)
    yield
    assert signal.getsignal(signal.SIGTERM) is before
    signal.signal(signal.SIGTERM, before)


def test_ctrl_c_while_loading_exits_130_with_one_line(
    capsys: pytest.CaptureFixture[str], sigterm_restored: None
) -> None:
    def load() -> Main:
        raise KeyboardInterrupt

    assert run(load) == INTERRUPTED_EXIT
    assert capsys.readouterr().err == "autobot: interrupted\n"


def test_sigterm_while_loading_exits_143_with_one_line(
    capsys: pytest.CaptureFixture[str], sigterm_restored: None
) -> None:
    def load() -> Main:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before this returns
        raise AssertionError("not reached")

    with pytest.raises(SystemExit) as exited:
        run(load)
    assert exited.value.code == TERMINATED_EXIT
    assert capsys.readouterr().err == "autobot: terminated while starting\n"


def test_once_loaded_the_command_owns_sigterm(sigterm_restored: None) -> None:
    seen: list[object] = []

    def main() -> int:
        seen.append(signal.getsignal(signal.SIGTERM))
        return 7

    previous = signal.getsignal(signal.SIGTERM)
    assert run(lambda: main) == 7
    assert seen == [previous]


def test_ctrl_c_in_a_command_without_its_own_handling_exits_130(
    capsys: pytest.CaptureFixture[str], sigterm_restored: None
) -> None:
    def main() -> int:
        raise KeyboardInterrupt

    assert run(lambda: main) == INTERRUPTED_EXIT
    assert "Traceback" not in capsys.readouterr().err


def test_python_dash_m_autobot_is_the_executable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autobot", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"autobot {__version__}")


class _SignalledWhileImported(types.ModuleType):
    """A module whose names are read while SIGTERM arrives (mid-import)."""

    def __getattr__(self, name: str) -> object:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before this returns
        raise AssertionError("not reached")


@pytest.mark.parametrize(
    ("module", "command"),
    [
        ("autobot.commands.gateway", ["gateway"]),
        ("autobot.commands.agent", ["agent", "-m", "hi"]),
        ("autobot.demo", ["demo", "--once"]),
        ("autobot.doctor.main", ["doctor"]),
    ],
)
def test_sigterm_while_the_command_s_code_loads_exits_143_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sigterm_restored: None,
    module: str,
    command: list[str],
) -> None:
    monkeypatch.setitem(sys.modules, module, _SignalledWhileImported(module))
    argv = ["--config", str(tmp_path / "config.yml"), *command]
    with pytest.raises(SystemExit) as exited:
        run(lambda: functools.partial(cli.main, argv))
    assert exited.value.code == TERMINATED_EXIT
    assert capsys.readouterr().err == "autobot: terminated while starting\n"


def test_loading_puts_the_previous_handler_back(sigterm_restored: None) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with loading():
        assert signal.getsignal(signal.SIGTERM) is not previous
    assert signal.getsignal(signal.SIGTERM) is previous
