"""`autobot new` on a real terminal (a pty): Ctrl-D and Ctrl-C at a prompt give
one clear line and an exit code, never a traceback, and leave nothing behind.

The child runs in its own session with the pty as its controlling terminal,
exactly like a shell would start it, so `^D` ends input at the line
discipline and `^C` makes the kernel send SIGINT. Every wait is bounded and
keyed to what the child prints (its prompts), never to elapsed time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trio

from autobot.cli import main

BOUND = 60.0  # a cold start imports the LLM SDKs; generous for a loaded machine

# Become the session's controlling terminal (fd 0 is the pty), then run the CLI.
_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'autobot.cli', *sys.argv[1:]])\n"
)

# The end of each question: once it is printed, the child waits for input.
PROVIDER_PROMPT = b"[anthropic]: "
CHANNELS_PROMPT = b"[none]: "
KEY_PROMPT = b"to fill in .env later): "
CTRL_C, CTRL_D = b"\x03", b"\x04"


class Terminal:
    """The master side of a pty, read until an expected prompt appears."""

    def __init__(self, stream: trio.lowlevel.FdStream) -> None:
        self.stream = stream
        self.seen = bytearray()

    async def read_until(self, needle: bytes) -> None:
        while needle not in self.seen:
            chunk = await self._receive()
            assert chunk, f"the terminal closed before {needle!r}: {bytes(self.seen)!r}"
        del self.seen[: self.seen.index(needle) + len(needle)]

    async def read_to_end(self) -> bytes:
        while await self._receive():
            pass
        return bytes(self.seen)

    async def _receive(self) -> bytes:
        try:
            chunk = await self.stream.receive_some()
        except trio.BrokenResourceError:  # EIO: every slave fd is closed
            chunk = b""
        self.seen += chunk
        return chunk


async def _new_on_a_terminal(
    parent: Path, options: list[str], script: list[tuple[bytes, bytes]]
) -> tuple[int, str]:
    """Run `autobot new` on a fresh pty; for each (prompt, keys) wait for the
    prompt then type the keys. Returns the exit code and everything printed
    after the last prompt."""
    master, slave = os.openpty()
    try:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-c", _ON_A_TERMINAL, "new", str(parent / "bot"), *options],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        os.close(slave)
    terminal = Terminal(trio.lowlevel.FdStream(master))
    try:
        with trio.fail_after(BOUND):
            for prompt, keys in script:
                await terminal.read_until(prompt)
                await terminal.stream.send_all(keys)
            rest = await terminal.read_to_end()
            code = await process.wait()
    finally:
        await terminal.stream.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
    return code, rest.decode("utf-8", "replace")


CASES = {
    "Ctrl-D at the provider prompt": (
        [],
        [(PROVIDER_PROMPT, CTRL_D)],
        1,
        "autobot: input ended before the questions were answered",
    ),
    "Ctrl-C at the hidden key prompt": (
        ["--provider", "anthropic"],
        [(CHANNELS_PROMPT, b"\r"), (KEY_PROMPT, CTRL_C)],
        130,
        "autobot: interrupted",
    ),
    "Ctrl-D at the hidden key prompt": (
        ["--channel", "telegram"],
        [(PROVIDER_PROMPT, b"\r"), (KEY_PROMPT, CTRL_D)],
        1,
        "autobot: input ended before the questions were answered",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_ending_or_interrupting_a_prompt_is_one_line_and_leaves_nothing(
    tmp_path: Path, case: str
) -> None:
    options, script, expected_code, expected_line = CASES[case]
    parent = tmp_path / "parent"
    parent.mkdir()
    code, printed = await _new_on_a_terminal(parent, options, script)
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
    assert code == expected_code, printed
    assert lines == [expected_line], printed
    assert "Traceback" not in printed and "Error" not in printed
    assert list(parent.iterdir()) == []


def test_a_directory_nothing_can_be_created_in_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["new", "/proc/autobot-test"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("autobot: cannot create bot /proc/autobot-test: ")
    assert captured.err.count("\n") == 1


def test_ctrl_c_at_a_prompt_exits_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(question: str, secret: bool) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("autobot.scaffold.interactive.terminal_prompt", interrupted)
    assert main(["new", str(tmp_path / "bot")]) == 130
    assert capsys.readouterr().err == "autobot: interrupted\n"
    assert list(tmp_path.iterdir()) == []
