"""Running the system's own tools (`useradd`, `systemctl`) for `autobot service`.

`Runner` is the port install and uninstall use; `run_command` is the real
one: the tool with a bounded wait, stdin closed, its output captured and
decoded. Tests inject a runner that records the argv and answers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio

# systemctl enable --now waits for the start job: the gateway's start (doctor,
# sandbox probe) takes seconds; useradd and daemon-reload take less.
COMMAND_SECONDS = 120.0


@attrs.frozen
class Completed:
    """How a tool ended: its exit code and its output (stdout then stderr)."""

    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reason(self) -> str:
        """The last lines of the output, or the exit code when it said nothing."""
        text = self.output.strip()
        return text[-500:] if text else f"exit code {self.returncode}"


Runner = Callable[[Sequence[str]], Awaitable[Completed]]


async def run_command(argv: Sequence[str]) -> Completed:
    """Run `argv` to completion within `COMMAND_SECONDS`; a tool that cannot
    be started or does not finish in time is a `Completed` with code 127 or
    124 (like a shell would say), never an exception."""
    with trio.move_on_after(COMMAND_SECONDS):
        try:
            done = await trio.run_process(
                list(argv),
                check=False,
                stdin=subprocess.DEVNULL,
                capture_stdout=True,
                capture_stderr=True,
            )
        except OSError as exc:
            return Completed(127, f"{argv[0]} could not be started: {exc.strerror or exc}")
        text = (done.stdout + done.stderr).decode("utf-8", "replace")
        return Completed(done.returncode, text)
    return Completed(124, f"{argv[0]} did not finish within {COMMAND_SECONDS:g} s")
