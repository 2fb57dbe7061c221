"""Host side of one sandbox worker: typed calls over the framed protocol.

A `WorkerHandle` owns the worker's process and pipes. Calls are strictly
one at a time (the pool's lease guarantees it). A call that does not finish
cleanly (worker died, protocol broken, or the caller was cancelled mid-call)
marks the handle `broken`; the pool then kills and replaces it, which also
kills any command still running inside (its sandbox dies with the worker).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from autobot.sandbox.env_index import EnvScan
from autobot.sandbox.errors import WorkerFailed
from autobot.sandbox.launch import kill_process_group
from autobot.sandbox.process import WorkerProcess
from autobot.sandbox.worker_main import HEADER, decode_length, encode_frame

RECEIVE_CHUNK = 65536


class OpRefused(Exception):
    """The worker refused an operation; `kind` says why (missing, directory, binary...)."""

    def __init__(self, kind: str, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail


@attrs.frozen(kw_only=True)
class ExecOutcome:
    """One command's result; `*_dropped` count bytes cut by the output cap."""

    stdout: str
    stderr: str
    exit_code: int
    timed_out: bool
    stdout_dropped: int
    stderr_dropped: int


@attrs.define(kw_only=True, eq=False)
class WorkerHandle:
    """One live worker. `env_scan` holds the dotenv entries its sandbox hides."""

    process: WorkerProcess
    env_scan: EnvScan
    env: dict[str, str]
    served: int = 0
    broken: bool = False
    _buffer: bytearray = attrs.field(factory=bytearray)
    _next_id: int = 0

    @property
    def alive(self) -> bool:
        return not self.broken and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker (and so its whole sandbox); never blocks."""
        self.broken = True
        kill_process_group(self.process)

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one counted request, return the `ok` response; OpRefused or WorkerFailed."""
        response = await self._call_uncounted(request)
        self.served += 1
        return response

    async def _call_uncounted(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.broken:
            raise WorkerFailed("worker is no longer usable")
        self._next_id += 1
        request_id = self._next_id
        finished = False
        try:
            response = await self._exchange({**request, "id": request_id})
            finished = True
        except (trio.BrokenResourceError, trio.ClosedResourceError, ValueError) as exc:
            raise WorkerFailed(f"worker protocol failed: {exc}") from exc
        finally:
            if not finished:
                self.broken = True
        if response.get("id") != request_id:
            self.broken = True
            raise WorkerFailed("worker answered out of order")
        if response.get("retire"):
            self.broken = True  # near its own CPU limit: replaced on release
        if not response.get("ok"):
            kind = str(response.get("error", "unknown"))
            raise OpRefused(kind, str(response.get("message", kind)), response)
        return response

    async def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        await self.process.stdin.send_all(encode_frame(request))
        header = await self._receive_exactly(HEADER.size)
        body = await self._receive_exactly(decode_length(header))
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("response is not an object")
        return decoded

    async def _receive_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = await self.process.stdout.receive_some(RECEIVE_CHUNK)
            if not chunk:
                raise WorkerFailed("worker exited")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def ping(self) -> int:
        """Round-trip check used at start; not counted in `served`. Returns the
        worker's PID as it sees it (1 inside a sandbox's PID namespace)."""
        return int((await self._call_uncounted({"op": "ping"}))["pid"])

    async def read_text(self, path: str, max_bytes: int) -> str:
        """UTF-8 text of `path` (relative to the workspace)."""
        return str(
            (await self.call({"op": "read", "path": path, "max_bytes": max_bytes}))["content"]
        )

    async def write_text(self, path: str, content: str) -> int:
        """Write `content`, creating parent directories; bytes written."""
        response = await self.call({"op": "write", "path": path, "content": content})
        return int(response["bytes"])

    async def edit_text(self, path: str, old: str, new: str, max_bytes: int) -> None:
        """Replace the single occurrence of `old` (OpRefused `match_count` carries `count`)."""
        await self.call(
            {"op": "edit", "path": path, "old": old, "new": new, "max_bytes": max_bytes}
        )

    async def list_dir(self, path: str) -> list[tuple[str, bool]]:
        """Sorted `(name, is_dir)` entries."""
        response = await self.call({"op": "list", "path": path})
        return [(str(name), bool(is_dir)) for name, is_dir in response["entries"]]

    async def exec(
        self, command: str, *, cwd: str, time_limit: float, max_output: int
    ) -> ExecOutcome:
        """Run `command` with `/bin/sh -c` in `cwd`; the worker kills it after
        `time_limit` seconds and, however it ended, kills whatever it left running
        before answering. A timed-out worker is marked broken (replaced)."""
        response = await self.call(
            {
                "op": "exec",
                "command": command,
                "cwd": cwd,
                "timeout": time_limit,
                "max_output": max_output,
                "env": self.env,
            }
        )
        if response["timed_out"]:
            # The worker killed every process of the command; a timed-out worker is
            # still replaced, so a command that hit its deadline leaves nothing behind.
            self.broken = True
        return ExecOutcome(
            stdout=str(response["stdout"]),
            stderr=str(response["stderr"]),
            exit_code=int(response["exit_code"]),
            timed_out=bool(response["timed_out"]),
            stdout_dropped=int(response["stdout_dropped"]),
            stderr_dropped=int(response["stderr_dropped"]),
        )
