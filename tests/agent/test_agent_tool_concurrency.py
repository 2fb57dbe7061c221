"""Concurrency of tool calls through the real tool set (`build_tools`) and registry.

The file and exec tools lease a sandbox worker; here the leaser hands out a
fake worker whose operations take exact virtual time and record when they
start and end, so the schedule the agent loop chose is visible.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from autobot.agent.assembly import build_tools
from autobot.agent.budget import DailyBudget
from autobot.agent.loop import AgentLoop, LoopSettings, SessionGovernor
from autobot.agent.spend import GlobalLimits
from autobot.channels.base import OutboundMessage
from autobot.config.schema import TOOL_NAMES, Config
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import ChatMessage, Role
from autobot.sandbox.worker import ExecOutcome
from autobot.testing.logs import capture_logger
from autobot.testing.scripted_llm import ScriptedProvider, text_reply, tool_reply
from autobot.tools.base import ToolContext

OP_SECONDS = 1.0


@attrs.define
class TimedWorker:
    """Stands in for a sandbox `WorkerHandle`: each operation takes OP_SECONDS."""

    events: list[tuple[str, str, float]]

    async def _op(self, label: str) -> None:
        self.events.append(("start", label, trio.current_time()))
        await trio.sleep(OP_SECONDS)
        self.events.append(("end", label, trio.current_time()))

    async def read_text(self, path: str, max_bytes: int) -> str:
        await self._op(f"read {path}")
        return f"contents of {path}"

    async def write_text(self, path: str, content: str) -> int:
        await self._op(f"write {path}")
        return len(content)

    async def list_dir(self, path: str) -> list[tuple[str, bool]]:
        await self._op(f"list {path}")
        return [("a.txt", False)]

    async def exec(self, command: str, **_: Any) -> ExecOutcome:
        await self._op(f"exec {command}")
        return ExecOutcome(
            stdout="", stderr="", exit_code=0, timed_out=False, stdout_dropped=0, stderr_dropped=0
        )


@attrs.define
class TimedLeaser:
    """A `WorkerLeaser` with unlimited workers (the loop, not the pool, sets the pace)."""

    events: list[tuple[str, str, float]] = attrs.field(factory=list)

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Any]:
        yield TimedWorker(self.events)


async def test_reads_run_together_writes_and_exec_alone_in_order(
    tmp_path: Path, autojump_clock: Any
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    leaser = TimedLeaser()
    send, _receive = trio.open_memory_channel[OutboundMessage](10)
    config = Config()
    registry = build_tools(config, workspace=workspace, outbound=send, pool=leaser)
    provider = ScriptedProvider.from_script(
        [
            tool_reply(
                ("read_file", {"path": "a.txt"}),
                ("read_file", {"path": "b.txt"}),
                ("write_file", {"path": "c.txt", "content": "x"}),
                ("exec", {"command": "ls"}),
                ("write_file", {"path": "d.txt", "content": "y"}),
                ("list_dir", {"path": "."}),
                ("read_file", {"path": "c.txt"}),
            ),
            text_reply("done"),
        ]
    )
    loop = AgentLoop(provider=provider, registry=registry, settings=LoopSettings(model="m"))
    logger, _records = capture_logger("agent:test:1")
    ctx = ToolContext(
        session_key="test:1", channel="test", chat_id="1", workspace=workspace, logger=logger
    )
    now = trio.current_time()
    governor = SessionGovernor(
        limits=SessionLimits.from_config(config.tools.rate_limit, now),
        budget=DailyBudget(None),
        shared=GlobalLimits.from_config(
            config.tools.rate_limit.global_llm, config.agents.defaults.budget, now
        ),
        wall_clock=lambda: 0.0,
    )
    start = trio.current_time()
    outcome = await loop.run_turn(
        system="s",
        history=[ChatMessage(role=Role.USER, content="go")],
        ctx=ctx,
        governor=governor,
    )
    assert outcome.reply == "done"
    assert [m.is_error for m in outcome.messages if m.role is Role.TOOL] == [False] * 7
    spans: dict[str, list[float]] = {}
    for _kind, label, at in leaser.events:
        spans.setdefault(label, []).append(at - start)
    # the first two reads overlap; every write/exec runs alone, in the model's
    # order; the final list_dir and read (both read-only) overlap again
    assert spans == {
        "read a.txt": [0.0, 1.0],
        "read b.txt": [0.0, 1.0],
        "write c.txt": [1.0, 2.0],
        "exec ls": [2.0, 3.0],
        "write d.txt": [3.0, 4.0],
        "list .": [4.0, 5.0],
        "read c.txt": [4.0, 5.0],
    }
    assert [label for kind, label, _ in leaser.events if kind == "start"][2:5] == [
        "write c.txt",
        "exec ls",
        "write d.txt",
    ]


def test_the_real_tool_set_marks_exactly_the_read_only_tools_concurrency_safe(
    tmp_path: Path,
) -> None:
    send, _receive = trio.open_memory_channel[OutboundMessage](1)
    registry = build_tools(Config(), workspace=tmp_path, outbound=send, pool=TimedLeaser())
    safe = {name for name in registry.names() if registry.is_concurrency_safe(name)}
    assert safe == {"read_file", "list_dir", "web_fetch", "web_search"}
    # every built tool is a contract name (per_tool config keys are checked against them)
    assert set(registry.names()) <= set(TOOL_NAMES)
