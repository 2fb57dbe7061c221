"""exec's time limit: validated model input, and a host deadline that excludes the wait for a lease.

Fake leasers and the autojump clock: exact virtual times, no sandbox needed.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from autobot.sandbox.worker import ExecOutcome
from autobot.testing.logs import capture_logger
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.exec import HOST_GRACE_SECONDS, ExecTool, command_time_limit

WORKSPACE = Path("/nonexistent-workspace")


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, 60.0),
        (5, 5.0),
        (2.5, 2.5),
        ("7", 7.0),
        (5000, 60.0),
        (0, "Error: timeout must be a finite positive number of seconds (got 0)"),
        (-3, "Error: timeout must be a finite positive number of seconds (got -3)"),
        (math.nan, "Error: timeout must be a finite positive number of seconds (got nan)"),
        (math.inf, "Error: timeout must be a finite positive number of seconds (got inf)"),
        ("NaN", "Error: timeout must be a finite positive number of seconds (got 'NaN')"),
        ("soon", "Error: timeout must be a number of seconds, not 'soon'"),
        (True, "Error: timeout must be a number of seconds, not bool"),
        ([1], "Error: timeout must be a number of seconds, not list"),
    ],
)
def test_command_time_limit(requested: object, expected: float | str) -> None:
    assert command_time_limit(requested, 60.0) == expected


class Worker:
    """Answers `exec` after `seconds` of (virtual) time, or never."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def exec(self, command: str, *, cwd: str, time_limit: float, max_output: int):  # type: ignore[no-untyped-def]
        await trio.sleep(self.seconds)
        return ExecOutcome(
            stdout="ran\n", stderr="", exit_code=0, timed_out=False, stdout_dropped=0,
            stderr_dropped=0,
        )  # fmt: skip


class BusyPool:
    """Every lease waits `queue` seconds (other sessions hold the workers)."""

    def __init__(self, queue: float, worker: Worker) -> None:
        self.queue, self.worker = queue, worker

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Worker]:
        await trio.sleep(self.queue)
        yield self.worker


def ctx() -> ToolContext:
    return ToolContext(
        session_key="telegram:1", channel="telegram", chat_id="1", workspace=WORKSPACE,
        logger=capture_logger()[0],
    )  # fmt: skip


async def test_a_long_wait_for_a_lease_is_not_a_timeout(autojump_clock: object) -> None:
    tool = ExecTool(pool=BusyPool(500.0, Worker(3.0)), workspace=WORKSPACE, timeout=10.0)  # type: ignore[arg-type]
    start = trio.current_time()
    result = await tool.run({"command": "echo ran"}, ctx())
    assert result == ToolResult.ok("ran")
    assert trio.current_time() - start == 503.0


async def test_the_host_deadline_counts_from_the_lease(autojump_clock: object) -> None:
    tool = ExecTool(pool=BusyPool(500.0, Worker(math.inf)), workspace=WORKSPACE, timeout=10.0)  # type: ignore[arg-type]
    start = trio.current_time()
    result = await tool.run({"command": "sleep 1000", "timeout": 4}, ctx())
    assert result == ToolResult.error(
        "Error: command timed out after 4 seconds (sandbox worker killed)"
    )
    assert trio.current_time() - start == 500.0 + 4 + HOST_GRACE_SECONDS


@pytest.mark.parametrize("requested", [math.nan, "nan", -1, math.inf])
async def test_invalid_timeout_is_a_clear_error_before_any_lease(requested: object) -> None:
    tool = ExecTool(pool=BusyPool(math.inf, Worker(0)), workspace=WORKSPACE)  # type: ignore[arg-type]
    result = await tool.run({"command": "true", "timeout": requested}, ctx())
    assert result.is_error
    assert result.text.startswith("Error: timeout must be a finite positive number of seconds")
