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


def _ctx() -> ToolContext:
    return ToolContext(
        session_key="t:1",
        channel="t",
        chat_id="1",
        workspace=Path("/w"),
        logger=capture_logger()[0],
    )


async def test_spawn_launches_with_label_or_a_default_one() -> None:
    launcher = FakeLauncher()
    tool = SpawnTool(launcher=launcher)
    result = await tool.run({"task": "summarise the logs", "label": "logs"}, _ctx())
    assert not result.is_error and "'logs'" in result.text
    await tool.run({"task": "x" * 100}, _ctx())
    assert launcher.launched == [("summarise the logs", "logs"), ("x" * 100, "x" * 40)]


async def test_spawn_refusal_reaches_the_model() -> None:
    tool = SpawnTool(launcher=FakeLauncher(refusal="At most 3 background tasks"))
    result = await tool.run({"task": "t"}, _ctx())
    assert result.is_error and result.text == "At most 3 background tasks"
