"""A worker's OS process, started on the event loop's own thread.

bwrap's `--die-with-parent` is PR_SET_PDEATHSIG, which fires when the
*thread* that forked bwrap exits, not the process. `trio.run_process` forks
from a cached worker thread, and trio retires idle worker threads after 10
seconds: every sandbox was SIGKILLed about 10 seconds after it started (a
command running at that moment failed). `WorkerProcess.spawn` therefore
calls `subprocess.Popen` on the thread running the event loop, which lives
as long as the gateway: a deliberate, brief block (a vfork and exec of bwrap,
about a millisecond; a full fork when a cgroup must be entered).

The process's pipes are trio `FdStream`s; its exit is awaited through a
pidfd. Spawn errors are OSError or `subprocess.SubprocessError`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import attrs
import trio


@attrs.define(eq=False)
class WorkerProcess:
    """A started child: `stdin`/`stdout` streams, `poll`, `kill`, `wait`."""

    _popen: subprocess.Popen[bytes]
    stdin: trio.lowlevel.FdStream
    stdout: trio.lowlevel.FdStream
    _pidfd: int
    _wait_lock: trio.Lock = attrs.Factory(trio.Lock)

    @classmethod
    def spawn(
        cls,
        argv: list[str],
        *,
        env: dict[str, str],
        preexec_fn: Callable[[], None] | None = None,
        **options: Any,
    ) -> WorkerProcess:
        """Start `argv` (blocking briefly, on purpose: see the module docstring)
        with piped stdin/stdout, stderr discarded, in a new session."""
        child_stdin, parent_stdin = os.pipe2(os.O_CLOEXEC)
        parent_stdout, child_stdout = os.pipe2(os.O_CLOEXEC)
        try:
            popen = subprocess.Popen(
                argv,
                stdin=child_stdin,
                stdout=child_stdout,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=preexec_fn,
                **options,
            )
        except BaseException:
            for fd in (parent_stdin, parent_stdout):
                os.close(fd)
            raise
        finally:
            os.close(child_stdin)
            os.close(child_stdout)
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:  # already reaped is impossible: nobody waited on it yet
            popen.kill()
            popen.wait()
            raise
        return cls(
            popen,
            trio.lowlevel.FdStream(parent_stdin),
            trio.lowlevel.FdStream(parent_stdout),
            pidfd,
        )

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def poll(self) -> int | None:
        """The exit code if it has exited (reaping it), else None."""
        return self._popen.poll()

    def kill(self) -> None:
        """SIGKILL the process itself (see `launch.kill_process_group` for its group)."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    async def wait(self) -> int:
        """Wait for the exit (several tasks may wait); the exit code."""
        async with self._wait_lock:
            if self.poll() is None and self._pidfd >= 0:
                await trio.lowlevel.wait_readable(self._pidfd)
                self._popen.wait()  # exited: reaps without blocking
        assert self._popen.returncode is not None
        return self._popen.returncode

    async def aclose(self) -> None:
        """After the exit: close our ends of the pipes and the pidfd."""
        with trio.CancelScope(shield=True):
            await self.stdin.aclose()
            await self.stdout.aclose()
            async with self._wait_lock:
                if self._pidfd >= 0:
                    os.close(self._pidfd)
                    self._pidfd = -1
