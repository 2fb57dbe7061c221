"""System prompt assembly from the workspace, including hostile workspaces."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from autobot.agent import context
from autobot.agent.context import (
    IDENTITY,
    MAX_FILE_CHARS,
    SETTLE_NS,
    PromptCache,
    build_system_prompt,
    prompt_signature,
)


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "memory").mkdir(parents=True)
    (ws / "skills" / "weather").mkdir(parents=True)
    (ws / "skills" / "alpha").mkdir(parents=True)
    (ws / "AGENTS.md").write_text("Be helpful.")
    (ws / "SOUL.md").write_text("Calm and kind.")
    (ws / "USER.md").write_text("Name: Alice")
    (ws / "memory" / "MEMORY.md").write_text("Alice likes tea.")
    (ws / "skills" / "weather" / "SKILL.md").write_text("Use web_fetch for forecasts.")
    (ws / "skills" / "alpha" / "SKILL.md").write_text("Alpha skill.")
    return ws


def test_prompt_contains_every_file_in_order(tmp_path: Path) -> None:
    prompt = build_system_prompt(_workspace(tmp_path))
    assert prompt.startswith(IDENTITY)
    order = [
        "## AGENTS.md\n\nBe helpful.",
        "## SOUL.md\n\nCalm and kind.",
        "## USER.md\n\nName: Alice",
        "## memory/MEMORY.md\n\nAlice likes tea.",
        "## skills/alpha/SKILL.md\n\nAlpha skill.",
        "## skills/weather/SKILL.md\n\nUse web_fetch for forecasts.",
    ]
    positions = [prompt.index(part) for part in order]
    assert positions == sorted(positions)
    assert str(tmp_path) not in prompt  # no host path leaks to the model


def test_missing_files_are_skipped(tmp_path: Path) -> None:
    ws = tmp_path / "empty"
    ws.mkdir()
    assert build_system_prompt(ws) == IDENTITY


def test_symlinks_out_of_the_workspace_are_not_read(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    secret = tmp_path / ".env"
    secret.write_text("ANTHROPIC_API_KEY=sk-ant-secret")
    outside = tmp_path / "outside.md"
    outside.write_text("host file")
    (ws / "AGENTS.md").unlink()
    (ws / "AGENTS.md").symlink_to(secret)
    (ws / "USER.md").unlink()
    (ws / "USER.md").symlink_to(outside)
    (ws / "skills" / "evil").symlink_to(tmp_path)  # skills/evil/SKILL.md -> outside
    (tmp_path / "SKILL.md").write_text("outside skill")
    prompt = build_system_prompt(ws)
    assert "sk-ant-secret" not in prompt
    assert "host file" not in prompt
    assert "outside skill" not in prompt
    assert "Calm and kind." in prompt


def test_skills_directory_symlinked_outside_is_ignored(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    elsewhere = tmp_path / "elsewhere" / "s"
    elsewhere.mkdir(parents=True)
    (elsewhere / "SKILL.md").write_text("smuggled")
    (ws / "skills").symlink_to(tmp_path / "elsewhere")
    assert "smuggled" not in build_system_prompt(ws)


def test_huge_files_are_capped(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "AGENTS.md").write_text("a" * (MAX_FILE_CHARS * 3))
    prompt = build_system_prompt(ws)
    assert "a" * MAX_FILE_CHARS + "\n[truncated]" in prompt
    assert "a" * (MAX_FILE_CHARS + 1) not in prompt


def test_a_directory_named_like_a_prompt_file_is_skipped(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "SOUL.md").mkdir(parents=True)
    assert build_system_prompt(ws) == IDENTITY


def test_prompt_files_that_are_not_plain_files_are_skipped(tmp_path: Path) -> None:
    """A FIFO (nobody writes it: a blocking open would hang the turn), links
    that stay inside the workspace, a linked `memory/` or skill: none is read."""
    ws = _workspace(tmp_path)
    (ws / "AGENTS.md").unlink()
    os.mkfifo(ws / "AGENTS.md")
    (ws / "USER.md").unlink()
    (ws / "USER.md").symlink_to("SOUL.md")
    (ws / "memory").rename(ws / "real-memory")
    (ws / "memory").symlink_to("real-memory")
    (ws / "skills" / "linked").symlink_to("alpha")
    prompt = build_system_prompt(ws)
    for relative in ("AGENTS.md", "USER.md", "memory/MEMORY.md", "skills/linked/SKILL.md"):
        assert f"## {relative}" not in prompt
    assert "## SOUL.md\n\nCalm and kind." in prompt
    assert "## skills/alpha/SKILL.md\n\nAlpha skill." in prompt
    stamps = dict(prompt_signature(ws)[0])
    assert stamps["memory/MEMORY.md"] is None and stamps["USER.md"] is None


# ---- PromptCache ---------------------------------------------------------------------


def _settled_clock() -> int:
    """A wall clock far enough ahead that every file counts as settled."""
    return time.time_ns() + 10 * SETTLE_NS


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every real prompt build (the cache's misses)."""
    calls: list[Path] = []
    real = context.build_system_prompt

    def counting(workspace: Path) -> str:
        calls.append(workspace)
        return real(workspace)

    monkeypatch.setattr(context, "build_system_prompt", counting)
    return calls


def test_cache_reuses_the_prompt_while_nothing_changes(tmp_path: Path, builds: list[Path]) -> None:
    ws = _workspace(tmp_path)
    cache = PromptCache(ws, clock_ns=_settled_clock)
    first = cache.system_prompt()
    assert "Alice likes tea." in first
    assert [cache.system_prompt() for _ in range(3)] == [first] * 3
    assert len(builds) == 1


def _replace(path: Path, text: str) -> None:
    """Atomic replace by rename (a new inode), as editors and write_file do."""
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text)
    temp.replace(path)


def _edit_in_place_longer(ws: Path) -> None:
    with (ws / "AGENTS.md").open("a") as f:
        f.write(" Always.")


EDITS: dict[str, Callable[[Path], None]] = {
    "append to AGENTS.md": _edit_in_place_longer,
    "same-size replace of SOUL.md": lambda ws: _replace(ws / "SOUL.md", "Wild and mean."),
    "USER.md deleted": lambda ws: (ws / "USER.md").unlink(),
    "MEMORY.md rewritten": lambda ws: _replace(ws / "memory" / "MEMORY.md", "Alice hates tea."),
    "memory dir swapped": lambda ws: (
        (ws / "memory").rename(ws / "old-memory"),
        (ws / "memory").mkdir(),
        (ws / "memory" / "MEMORY.md").write_text("Fresh start."),
    ),
    "skill added": lambda ws: (
        (ws / "skills" / "beta").mkdir(),
        (ws / "skills" / "beta" / "SKILL.md").write_text("Beta skill."),
    ),
    "skill removed": lambda ws: shutil.rmtree(ws / "skills" / "alpha"),
    "skill edited": lambda ws: _replace(ws / "skills" / "weather" / "SKILL.md", "Ask the sky."),
    "skill swapped for another": lambda ws: (
        (ws / "skills" / "alpha" / "SKILL.md").unlink(),
        (ws / "skills" / "gamma").mkdir(),
        (ws / "skills" / "gamma" / "SKILL.md").write_text("Gamma."),
    ),
    "AGENTS.md becomes a link to another inside file": lambda ws: (
        (ws / "notes.md").write_text("Linked notes."),
        (ws / "AGENTS.md").unlink(),
        (ws / "AGENTS.md").symlink_to(ws / "notes.md"),
    ),
    "AGENTS.md becomes a link to a secret outside": lambda ws: (
        (ws.parent / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-secret"),
        (ws / "AGENTS.md").unlink(),
        (ws / "AGENTS.md").symlink_to(ws.parent / ".env"),
    ),
    "skills dir becomes a link outside": lambda ws: (
        shutil.rmtree(ws / "skills"),
        (ws.parent / "elsewhere" / "s").mkdir(parents=True),
        (ws.parent / "elsewhere" / "s" / "SKILL.md").write_text("smuggled"),
        (ws / "skills").symlink_to(ws.parent / "elsewhere"),
    ),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_cache_follows_every_kind_of_change(tmp_path: Path, edit: str) -> None:
    ws = _workspace(tmp_path)
    cache = PromptCache(ws, clock_ns=_settled_clock)
    before = cache.system_prompt()
    EDITS[edit](ws)
    after = cache.system_prompt()
    assert after == build_system_prompt(ws)
    assert after != before
    assert "sk-ant-secret" not in after and "smuggled" not in after


def test_a_prompt_read_right_after_a_write_is_not_reused(
    tmp_path: Path, builds: list[Path]
) -> None:
    """Timestamps tick coarsely: a same-size rewrite within the same tick keeps
    the stamp. So a prompt built from a file changed within SETTLE_NS of the
    read is rebuilt on every call until the file has settled."""
    ws = _workspace(tmp_path)
    now = {"ns": time.time_ns()}  # the files were written just now
    cache = PromptCache(ws, clock_ns=lambda: now["ns"])
    cache.system_prompt()
    (ws / "SOUL.md").write_text("Wild and kind.")  # same size, maybe the same stamp
    assert "Wild and kind." in cache.system_prompt()
    assert len(builds) == 2
    now["ns"] += 2 * SETTLE_NS  # settled: built once more, then reused
    cache.system_prompt()
    cache.system_prompt()
    assert len(builds) == 3


def test_skill_file_appearing_in_an_existing_dir_is_seen(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (ws / "skills" / "later").mkdir()
    cache = PromptCache(ws, clock_ns=_settled_clock)
    assert "Later skill." not in cache.system_prompt()
    (ws / "skills" / "later" / "SKILL.md").write_text("Later skill.")  # listing unchanged
    assert "## skills/later/SKILL.md\n\nLater skill." in cache.system_prompt()


def test_signature_covers_the_skill_listing(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    before = prompt_signature(ws)
    (ws / "skills" / "zeta").mkdir()  # a dir without SKILL.md still changes the listing
    assert prompt_signature(ws) != before
    assert prompt_signature(ws) == prompt_signature(ws)


def test_missing_workspace_files_give_a_stable_signature(tmp_path: Path) -> None:
    ws = tmp_path / "empty"
    ws.mkdir()
    cache = PromptCache(ws, clock_ns=_settled_clock)
    assert cache.system_prompt() == IDENTITY
    assert prompt_signature(ws) == prompt_signature(ws)
    (ws / "USER.md").write_text("Name: Bob")
    assert "Name: Bob" in cache.system_prompt()


# --- PromptCache.current: one check shared by concurrent callers ----------------------


@attrs.define
class GatedRunner:
    """A disk runner whose results come back only once `gate` is set (a busy
    event loop): each call reads the files at once, then waits. It counts the
    checks and fails the next one when `fail_next` is set."""

    gate: trio.Event = attrs.field(factory=trio.Event)
    calls: int = 0
    fail_next: bool = False

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls += 1
        fail, self.fail_next = self.fail_next, False
        result = fn(*args)
        await self.gate.wait()
        if fail:
            raise OSError(5, "Input/output error")
        return result


async def _ask_all(cache: PromptCache, runner: GatedRunner, count: int) -> list[str]:
    answers: list[str] = []

    async def ask() -> None:
        answers.append(await cache.current(runner))

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        runner.gate.set()
    return answers


async def test_concurrent_callers_share_one_check(tmp_path: Path) -> None:
    """A hundred sessions asking at once cost two checks: the first caller's,
    and one for everyone who asked while it ran (it may have read the files
    before they asked)."""
    ws = _workspace(tmp_path)
    runner = GatedRunner()
    answers = await _ask_all(PromptCache(ws, clock_ns=_settled_clock), runner, 100)
    assert answers == [build_system_prompt(ws)] * 100
    assert runner.calls == 2


async def test_a_caller_arriving_during_a_check_sees_a_change_made_before_it_asked(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path)
    cache = PromptCache(ws, clock_ns=_settled_clock)
    runner = GatedRunner()
    early: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_collect, cache, runner, early)
        await trio.testing.wait_all_tasks_blocked()  # the first check is under way
        _replace(ws / "SOUL.md", "Wild and kind.")
        late = trio.Event()

        async def ask_late() -> None:
            assert "Wild and kind." in await cache.current(runner)
            late.set()

        nursery.start_soon(ask_late)
        await trio.testing.wait_all_tasks_blocked()
        runner.gate.set()
    assert late.is_set() and runner.calls == 2


async def _collect(cache: PromptCache, runner: GatedRunner, into: list[str]) -> None:
    into.append(await cache.current(runner))


async def test_a_failed_check_fails_its_caller_only(tmp_path: Path) -> None:
    """The caller whose check failed gets the error; those waiting on it run
    their own check instead of hanging or inheriting the error."""
    ws = _workspace(tmp_path)
    cache = PromptCache(ws, clock_ns=_settled_clock)
    runner = GatedRunner(fail_next=True)
    outcomes: list[str] = []

    async def ask() -> None:
        try:
            outcomes.append(await cache.current(runner))
        except OSError:
            outcomes.append("error")

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(ask)
        await trio.testing.wait_all_tasks_blocked()
        runner.gate.set()
    assert sorted(outcomes) == sorted(["error", build_system_prompt(ws), build_system_prompt(ws)])
    assert runner.calls == 2


async def test_a_cancelled_check_hands_over_to_a_waiting_caller(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    cache = PromptCache(ws, clock_ns=_settled_clock)
    runner = GatedRunner()
    answers: list[str] = []
    checker = trio.CancelScope()

    async def ask_then_give_up() -> None:
        with checker:
            await cache.current(runner)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ask_then_give_up)
        await trio.testing.wait_all_tasks_blocked()  # its check is under way
        nursery.start_soon(_collect, cache, runner, answers)
        await trio.testing.wait_all_tasks_blocked()
        checker.cancel()
        await trio.testing.wait_all_tasks_blocked()
        runner.gate.set()
    assert answers == [build_system_prompt(ws)]
    assert runner.calls == 2
