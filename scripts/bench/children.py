"""Fake servers in child processes, driven by JSON-lines requests over their stdio.

The fakes run in their own processes so that the gateway under test and the
fakes do not share one Python interpreter's CPU, and so that both peers meet
the very same fakes. A child is `python -m bench.<module>` started from
`scripts/`; it writes one `hello` object (its URL and anything else the
parent needs), then answers each request line with one answer line, and
exits by itself when its stdin closes (so it also stops if the benchmark
dies). Its stderr is the benchmark's, so a crash shows its traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from bench.jsonlines import LineReader, send_object

SCRIPTS_DIR = Path(__file__).resolve().parents[1]
CHILD_START_SECONDS = 60.0  # importing trio, httpx and the fake on a loaded 2-core machine
CHILD_STOP_SECONDS = 10.0  # after its stdin closed, before it is killed

Answer = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Answer]]


class ChildError(Exception):
    """A child failed a request (its `error` answer) or exited before answering."""


@attrs.define(eq=False)
class Child:
    """A running child: its `hello`, and `request` for one answer at a time
    (requests are not concurrent: the caller awaits each answer)."""

    module: str
    process: trio.Process
    reader: LineReader
    hello: Answer

    async def request(self, command: dict[str, Any]) -> Answer:
        """Send `command`, return the answer; raises `ChildError` on an `error`
        answer or when the child exits without answering."""
        assert self.process.stdin is not None
        await send_object(self.process.stdin, command)
        answer = await self.reader.next_object()
        if answer is None:
            code = await self.process.wait()
            raise ChildError(f"{self.module} exited with code {code} before answering")
        if "error" in answer:
            raise ChildError(f"{self.module}: {answer['error']}")
        return answer


@asynccontextmanager
async def open_child(module: str, *arguments: str) -> AsyncIterator[Child]:
    """Start `python -m <module> <arguments>` and wait for its hello; the child
    is stopped (stdin closed, then killed after `CHILD_STOP_SECONDS`) when the
    block exits. Raises `ChildError` if it exits or stays silent at start."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", module, *arguments],
        cwd=SCRIPTS_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        reader = LineReader(process.stdout)
        hello = None
        with trio.move_on_after(CHILD_START_SECONDS) as starting:
            hello = await reader.next_object()
        if starting.cancelled_caught:
            raise ChildError(f"{module} said nothing within {CHILD_START_SECONDS:.0f} s of start")
        if hello is None:
            raise ChildError(f"{module} exited with code {await process.wait()} at start")
        yield Child(module=module, process=process, reader=reader, hello=hello)
    finally:
        with trio.move_on_after(CHILD_STOP_SECONDS, shield=True) as waiting:
            assert process.stdin is not None
            await process.stdin.aclose()
            await process.wait()
        if waiting.cancelled_caught:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


async def serve_requests(hello: Answer, handle: Handler) -> None:
    """The child's side: write `hello`, then answer each request with
    `handle(request)` until stdin closes. `handle` raising `RequestRefused`
    answers `{"error": ...}`; anything else it raises ends the child."""
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    stdout = trio.lowlevel.FdStream(os.dup(sys.stdout.fileno()))
    async with stdin, stdout:
        await send_object(stdout, hello)
        reader = LineReader(stdin)
        while (request := await reader.next_object()) is not None:
            try:
                answer = await handle(request)
            except RequestRefused as refused:
                answer = {"error": str(refused)}
            await send_object(stdout, answer)


class RequestRefused(Exception):
    """A request a child cannot carry out (unknown, malformed, or timed out)."""
