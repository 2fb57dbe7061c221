"""The inotify-kept prompt cache: answers from memory only while no prompt file changed."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from autobot.agent.context import PromptCache, build_system_prompt
from autobot.agent.prompt_watch import PromptWatch, mount_filesystem, relevant


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "memory").mkdir(parents=True)
    (ws / "skills" / "weather").mkdir(parents=True)
    (ws / "SOUL.md").write_text("Calm and kind.")
    (ws / "memory" / "MEMORY.md").write_text("Alice likes tea.")
    (ws / "skills" / "weather" / "SKILL.md").write_text("Use web_fetch.")
    return ws


def _replace(path: Path, text: str) -> None:
    """Atomic replace by rename (a new inode), as editors and write_file do."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text)
    temp.replace(path)


@attrs.define
class CountingRunner:
    """A disk runner that runs inline and counts the checks; `after` runs
    right after each call (a write racing the check)."""

    calls: int = 0
    after: Callable[[], None] | None = None

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        result = fn(*args)
        if self.after is not None:
            self.after()
            self.after = None
        return result


@attrs.define
class Watched:
    cache: PromptCache
    runner: CountingRunner
    workspace: Path

    async def prompt(self) -> str:
        return await self.cache.current(self.runner)

    async def checks_for(self, change: Callable[[], None]) -> int:
        """How many checks the next prompt costs after `change`; asserts the
        prompt equals a fresh build."""
        before = self.runner.calls
        change()
        assert await self.prompt() == build_system_prompt(self.workspace)
        return self.runner.calls - before


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[Watched]:
    ws = _workspace(tmp_path)
    cache = PromptCache(ws)
    cache.start_watching()
    runner = CountingRunner()
    try:
        yield Watched(cache, runner, ws)
    finally:
        cache.stop_watching()


async def test_nothing_changed_means_no_check_at_all(watched: Watched) -> None:
    first = await watched.prompt()
    assert "Calm and kind." in first and watched.runner.calls == 1
    assert [await watched.prompt() for _ in range(5)] == [first] * 5
    assert watched.runner.calls == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda ws: (ws / "SOUL.md").write_text("Wild and kind."),  # in place, same second
        lambda ws: os.utime(ws / "SOUL.md", (0, 0)),  # attributes only
        lambda ws: (ws / "SOUL.md").unlink(),
        lambda ws: (ws / "AGENTS.md").write_text("New agent rules."),
        lambda ws: (ws / "memory" / "MEMORY.md").write_text("Alice likes coffee."),
        lambda ws: (ws / "skills" / "weather" / "SKILL.md").write_text("Use the radar."),
        lambda ws: (ws / "skills" / "later").mkdir(),
        lambda ws: (ws / "memory").rename(ws / "memory-old"),
        lambda ws: _replace(ws / "SOUL.md", "Swapped."),
    ],
    ids=[
        "write",
        "utime",
        "delete",
        "create",
        "memory",
        "skill",
        "new-skill-dir",
        "memory-dir-moved",
        "rename-over",
    ],
)
async def test_a_prompt_change_is_seen_by_the_next_turn(
    watched: Watched, change: Callable[[Path], object]
) -> None:
    await watched.prompt()
    assert await watched.checks_for(lambda: change(watched.workspace)) == 1
    assert await watched.checks_for(lambda: None) == 0  # and cached again


async def test_a_skill_added_later_is_watched_too(watched: Watched) -> None:
    ws = watched.workspace
    await watched.prompt()
    assert await watched.checks_for(lambda: (ws / "skills" / "later").mkdir()) == 1
    later = ws / "skills" / "later" / "SKILL.md"
    assert await watched.checks_for(lambda: later.write_text("Later skill.")) == 1
    assert await watched.checks_for(lambda: later.write_text("Changed skill.")) == 1
    assert "Changed skill." in await watched.prompt()


async def test_other_files_in_the_workspace_cost_nothing(watched: Watched) -> None:
    ws = watched.workspace
    await watched.prompt()
    assert await watched.checks_for(lambda: (ws / "notes.txt").write_text("x")) == 0
    assert await watched.checks_for(lambda: (ws / "memory" / "HISTORY.md").write_text("x")) == 0


async def test_a_write_racing_the_check_is_seen_by_the_next_turn(watched: Watched) -> None:
    """The check read the old text; the write landed before the caller stored
    the result: the stored prompt must not be trusted."""
    ws = watched.workspace
    watched.runner.after = lambda: (ws / "SOUL.md").write_text("Raced in.")
    assert "Calm and kind." in await watched.prompt()
    assert "Raced in." in await watched.prompt()


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "symlinked-skill-dir"])
async def test_what_inotify_cannot_see_is_checked_every_turn(watched: Watched, kind: str) -> None:
    """A link whose target sits in a directory no watch covers. The prompt
    reader never follows a symlink (so their text never reaches the prompt)
    and reads a hard link like any file; either way every turn checks."""
    ws = watched.workspace
    shared = ws / "shared"
    shared.mkdir()
    target = shared / ("SKILL.md" if kind == "symlinked-skill-dir" else "alice.md")
    target.write_text("Version one.")
    if kind == "symlink":
        (ws / "USER.md").symlink_to(target)
    elif kind == "hardlink":
        os.link(target, ws / "USER.md")
    else:
        (ws / "skills" / "linked").symlink_to(shared)
    followed = kind == "hardlink"
    assert ("Version one." in await watched.prompt()) is followed
    calls = watched.runner.calls
    target.write_text("Version two.")
    prompt = await watched.prompt()
    assert watched.runner.calls == calls + 1
    assert prompt == build_system_prompt(ws) and ("Version two." in prompt) is followed


async def test_a_workspace_created_after_the_start_is_checked_until_watched(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "later"
    cache = PromptCache(ws)
    cache.start_watching()
    runner = CountingRunner()
    try:
        await cache.current(runner)
        ws.mkdir()
        (ws / "SOUL.md").write_text("Born later.")
        assert "Born later." in await cache.current(runner)
        assert runner.calls == 2
    finally:
        cache.stop_watching()


async def test_after_stop_watching_every_turn_checks(watched: Watched) -> None:
    await watched.prompt()
    watched.cache.stop_watching()
    await watched.prompt()
    await watched.prompt()
    assert watched.runner.calls == 3


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /srv/nfs rw,relatime shared:20 - nfs4 server:/export rw
41 40 0:36 / /srv/nfs/local\\040disk rw - tmpfs tmpfs rw
42 22 0:37 / /home/alice/fuse rw - fuse.sshfs alice@host: rw
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/home/alice/bot/workspace", "ext4"),
        ("/srv/nfs/bot/workspace", "nfs4"),
        ("/srv/nfs/local disk/ws", "tmpfs"),
        ("/srv/nfsother/ws", "ext4"),  # a prefix of the name is not a parent
        ("/home/alice/fuse/ws", "fuse.sshfs"),
    ],
)
def test_the_workspace_filesystem_is_the_longest_mount_holding_it(path: str, kind: str) -> None:
    assert mount_filesystem(path, MOUNTINFO) == kind


def test_a_workspace_on_a_network_filesystem_is_not_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autobot.agent.prompt_watch.mount_filesystem", lambda path, text: "nfs4")
    assert PromptWatch.open(tmp_path) is None


def test_which_events_may_change_the_prompt() -> None:
    assert relevant("", "SOUL.md") and relevant("", "skills") and relevant("", "")
    assert not relevant("", "notes.txt") and not relevant("memory", "HISTORY.md")
    assert relevant("memory", "MEMORY.md") and relevant("skills/x", "anything")
    assert relevant(None, "anything")  # a watch this loop has not heard of yet
