"""The managed WhatsApp bridge: a child process of the gateway, kept running.

`ManagedBridge.run()` first runs `prepare` (the npm install, see
`bridge_install`), then starts `argv` with `nursery.start(trio.run_process,
...)`:

- in its own session (the terminal's Ctrl-C reaches the gateway only: the
  gateway decides when the bridge stops, after its last replies went out),
  stdin from /dev/null, stdout and stderr inherited (the bridge prints its QR
  code on the gateway's terminal);
- with the environment `bridge_environment` keeps: no provider key, token or
  other variable of the gateway's reaches it;
- restarted with jittered exponential backoff whenever it dies (reset after
  `HEALTHY_SECONDS` of running), except exit 3 (WhatsApp logged it out: the
  operator must link the phone again) and exit 2 (it refused its
  configuration): then `run` returns why, and the channel stops;
- terminated when the gateway stops (the task is cancelled): SIGTERM, then
  SIGKILL after `TERM_GRACE_SECONDS`.

A gateway killed with SIGKILL cannot stop its bridge, which would keep the
WhatsApp session and the socket. So the child's pid and start time are kept
in `pid_file`; the next start stops that process first if it still runs (the
same pid with the same start time: never a recycled pid). (A socket file a
dead bridge left is the bridge's to replace: it does so once nothing answers
on it.)
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import attrs
import trio

from autobot.channels.whatsapp.bridge_install import BridgeInstallError
from autobot.logs.records import Logger
from autobot.runtime import attempt_after, backoff_delay
from autobot.store.atomic import write_private_file

EXIT_BAD_CONFIG = 2
EXIT_LOGGED_OUT = 3
TERM_GRACE_SECONDS = 5.0
RESTART_BASE = 1.0
RESTART_CAP = 60.0
HEALTHY_SECONDS = 60.0
# The bridge's environment: where programs are, its home and locale, extra CA
# certificates for its TLS to WhatsApp. Nothing else of the gateway's.
BRIDGE_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "NODE_EXTRA_CA_CERTS")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def bridge_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: `BRIDGE_ENVIRONMENT` from `environ` (a PATH
    in any case) and `NODE_ENV=production`."""
    kept = {name: environ[name] for name in BRIDGE_ENVIRONMENT if name in environ}
    kept.setdefault("PATH", DEFAULT_PATH)
    kept["NODE_ENV"] = "production"
    return kept


def bridge_arguments(
    *,
    listen: str,
    secret_file: Path,
    bot_dir: Path,
    workspace: Path,
    max_file_bytes: int,
) -> list[str]:
    """The bridge's command-line arguments (after `node bridge.mjs`) for a bot."""
    state = bot_dir / "state"
    return [
        "--listen",
        listen,
        "--secret-file",
        str(secret_file),
        "--auth-dir",
        str(state / "whatsapp-auth"),
        "--state-dir",
        str(state / "whatsapp-bridge-state"),
        "--workspace",
        str(workspace),
        "--qr-png",
        str(bot_dir / "whatsapp-qr.png"),
        "--max-file-bytes",
        str(max_file_bytes),
    ]


def describe_exit(code: int) -> str:
    """`exit 1`, or `killed by SIGKILL` for a negative return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def process_start_time(pid: int) -> str | None:
    """The start time of the live process `pid` (/proc), None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except OSError:
        return None
    if not fields or fields[0] == "Z":
        return None
    return fields[19] if len(fields) > 19 else None


def _read_pid_file(path: Path) -> tuple[int, str] | None:
    try:
        pid_text, started = path.read_text(encoding="ascii").split()
        return int(pid_text), started
    except (OSError, ValueError):
        return None


async def _terminate(process: trio.Process) -> None:
    """`run_process`'s cancel delivery: SIGTERM, SIGKILL after the grace."""
    with contextlib.suppress(OSError):
        process.terminate()
    await trio.sleep(TERM_GRACE_SECONDS)
    with contextlib.suppress(OSError):
        process.kill()


@attrs.define(kw_only=True, eq=False)
class ManagedBridge:
    """The bridge process of one channel incarnation (module docstring).

    `argv` is the whole command; `prepare` (None: nothing) returns once it
    can start. `restarts` counts starts after the first.
    """

    argv: Sequence[str]
    environ: Mapping[str, str]
    pid_file: Path
    logger: Logger
    rng: random.Random
    prepare: Callable[[], Awaitable[object]] | None = None
    restarts: int = 0
    limiter: trio.CapacityLimiter = attrs.field(factory=lambda: trio.CapacityLimiter(1))

    async def run(self) -> str:
        """Keep the bridge running; returns why it stopped for good (or
        why it could not start)."""
        if self.prepare is not None:
            try:
                await self.prepare()
            except BridgeInstallError as exc:
                return str(exc)
        await self._stop_orphan()
        attempt = 0
        while True:
            began = trio.current_time()
            code = await self._run_once()
            if code == EXIT_LOGGED_OUT:
                return (
                    "WhatsApp logged the bridge out (exit 3): delete state/whatsapp-auth in "
                    "the bot directory, restart the gateway and scan the new QR code"
                )
            if code == EXIT_BAD_CONFIG:
                return (
                    "the WhatsApp bridge refused its configuration (exit 2): its message is "
                    "on the gateway's terminal"
                )
            attempt = attempt_after(attempt, trio.current_time() - began, HEALTHY_SECONDS)
            delay = backoff_delay(attempt, RESTART_BASE, RESTART_CAP, self.rng)
            self.logger.warn(
                f"whatsapp bridge exited ({describe_exit(code)}); restarting in {delay:.1f} s"
            )
            await trio.sleep(delay)
            attempt += 1
            self.restarts += 1

    async def _run_once(self) -> int:
        """Start the bridge and wait for it to end (terminated when cancelled)."""
        try:
            async with trio.open_nursery() as nursery:
                process: trio.Process = await nursery.start(
                    functools.partial(
                        trio.run_process,
                        list(self.argv),
                        env=dict(self.environ),
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                        check=False,
                        deliver_cancel=_terminate,
                    )
                )
                await self._thread(self._write_pid_file, process.pid)
                self.logger.info("whatsapp bridge started", pid=process.pid)
                return await process.wait()
        finally:
            with trio.CancelScope(shield=True):
                await self._thread(self._remove_pid_file)

    async def _thread(self, work: Callable[..., object], *args: object) -> None:
        await trio.to_thread.run_sync(work, *args, limiter=self.limiter)

    def _write_pid_file(self, pid: int) -> None:
        started = process_start_time(pid)
        if started is not None:
            write_private_file(self.pid_file, f"{pid} {started}\n")

    def _remove_pid_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_file)

    async def _stop_orphan(self) -> None:
        """Stop a bridge an earlier gateway left running (module docstring)."""
        recorded = await trio.to_thread.run_sync(
            _read_pid_file, self.pid_file, limiter=self.limiter
        )
        if recorded is not None:
            pid, started = recorded
            if process_start_time(pid) == started:
                self.logger.warn(
                    "stopping a WhatsApp bridge an earlier gateway left running", pid=pid
                )
                await self._kill_orphan(pid, started)
        await self._thread(self._remove_pid_file)

    async def _kill_orphan(self, pid: int, started: str) -> None:
        """SIGTERM, then SIGKILL after the grace, through a pidfd (the
        process is not our child: the pidfd is how its exit is awaited, and
        it can never name a recycled pid)."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        try:
            if process_start_time(pid) != started:  # it ended and the pid was reused meanwhile
                return
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            with trio.move_on_after(TERM_GRACE_SECONDS):
                await trio.lowlevel.wait_readable(pidfd)
                return
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with trio.move_on_after(TERM_GRACE_SECONDS):
                await trio.lowlevel.wait_readable(pidfd)
        finally:
            os.close(pidfd)
