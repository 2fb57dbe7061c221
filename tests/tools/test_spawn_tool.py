"""The spawn tool delegates to the session's launcher and reports refusals."""

from __future__ import annotations

from pathlib import Path

import attrs

from autobot.testing.logs import capture_logger
from autobot.tools.base import ToolContext
from autobot.tools.spawn import SpawnTool


@attrs.define
class FakeLauncher:
    refusal: str | None = None
    launched: list[tuple[str, str]] = attrs.field(factory=list)

    def launch(self, task: str, label: str) -> str | None:
        if self.refusal is None:
            self.launched.append((task, label))
        return self.refusal


def _ctx(launcher: FakeLauncher | None) -> ToolContext:
    return ToolContext(
        session_key="t:1",
        channel="t",
        chat_id="1",
        workspace=Path("/w"),
        logger=capture_logger()[0],
        launcher=launcher,
    )


async def test_spawn_launches_with_label_or_a_default_one() -> None:
    launcher = FakeLauncher()
    tool = SpawnTool()
    result = await tool.run({"task": "summarise the logs", "label": "logs"}, _ctx(launcher))
    assert not result.is_error and "'logs'" in result.text
    await tool.run({"task": "x" * 100}, _ctx(launcher))
    assert launcher.launched == [("summarise the logs", "logs"), ("x" * 100, "x" * 40)]


async def test_spawn_refusal_reaches_the_model() -> None:
    result = await SpawnTool().run(
        {"task": "t"}, _ctx(FakeLauncher(refusal="At most 3 background tasks"))
    )
    assert result.is_error and result.text == "At most 3 background tasks"


async def test_spawn_without_a_launcher_is_refused() -> None:
    """A subagent's context carries no launcher: it cannot start another."""
    result = await SpawnTool().run({"task": "t"}, _ctx(None))
    assert result.is_error and "cannot be started" in result.text
