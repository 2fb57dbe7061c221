"""Real races against the gateway's own workspace access (issue 10, findings 2 and 3).

A thread plays the sandboxed command: it swaps a prompt file (or a directory on
its way) with a symlink to a secret outside the workspace, with
`renameat2(RENAME_EXCHANGE)`, as fast as it can, while the gateway reads the
system prompt or writes memory. Reading a name that was checked a moment before
leaked the bot's `.env` into the prompt within a few hundred reads; writing by
name wrote MEMORY.md and temp files into the bot directory. Each test asserts the
race really ran (the reader saw both states) and that nothing leaked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from autobot.agent.context import build_system_prompt, read_workspace_text
from autobot.agent.memory import Consolidation, write_memory
from autobot.platform.workspace_fs import WorkspacePathError
from autobot.testing.exchange import exchanging

SECRET = "ANTHROPIC_API_KEY=sk-ant-race-secret"
READS = 5000
WRITES = 3000


@attrs.define
class Tally:
    """What the reader saw: the secret, the real text, or nothing (refused)."""

    leaks: int = 0
    inside: int = 0
    refused: int = 0


def race_reads(
    read: Callable[[], str | None], first: Path, second: Path, inside: str, reads: int
) -> Tally:
    """`read` `reads` times while `first` and `second` are swapped."""
    tally = Tally()
    with exchanging(first, second) as exchanger:
        for _ in range(reads):
            text = read() or ""
            if SECRET in text:
                tally.leaks += 1
            elif inside in text:
                tally.inside += 1
            else:
                tally.refused += 1
    assert exchanger.swaps > 0
    return tally


def _bot(tmp_path: Path) -> Path:
    """A bot directory: its `.env` (the secret), and a workspace with every prompt file."""
    (tmp_path / ".env").write_text(SECRET + "\n")
    ws = tmp_path / "workspace"
    (ws / "memory").mkdir(parents=True)
    (ws / "skills" / "alpha").mkdir(parents=True)
    for relative in ("AGENTS.md", "SOUL.md", "USER.md", "memory/MEMORY.md"):
        (ws / relative).write_text(f"Inside {relative}.")
    (ws / "skills" / "alpha" / "SKILL.md").write_text("Inside skills/alpha/SKILL.md.")
    # The same layout outside the workspace, every file holding the secret.
    (tmp_path / "stolen" / "alpha").mkdir(parents=True)
    for relative in ("MEMORY.md", "alpha/SKILL.md"):
        (tmp_path / "stolen" / relative).write_text(SECRET)
    return ws


@pytest.mark.parametrize("relative", ["AGENTS.md", "USER.md", "memory/MEMORY.md"])
def test_a_prompt_file_swapped_with_a_link_to_dotenv_never_leaks(
    tmp_path: Path, relative: str
) -> None:
    ws = _bot(tmp_path)
    decoy = ws / "decoy"
    decoy.symlink_to(os.path.relpath(tmp_path / ".env", (ws / relative).parent))
    tally = race_reads(
        lambda: read_workspace_text(ws, relative),
        ws / relative,
        decoy,
        f"Inside {relative}.",
        READS,
    )
    assert tally.leaks == 0
    assert tally.inside > 0 and tally.refused > 0  # the reader really raced the swaps


@pytest.mark.parametrize(
    ("directory", "relative", "stolen"),
    [
        ("memory", "memory/MEMORY.md", "stolen"),
        ("skills/alpha", "skills/alpha/SKILL.md", "stolen/alpha"),
    ],
)
def test_a_directory_swapped_with_a_link_outside_never_leaks(
    tmp_path: Path, directory: str, relative: str, stolen: str
) -> None:
    ws = _bot(tmp_path)
    decoy = ws / "decoy"
    decoy.symlink_to(tmp_path / stolen)
    tally = race_reads(
        lambda: read_workspace_text(ws, relative),
        ws / directory,
        decoy,
        f"Inside {relative}.",
        READS,
    )
    assert tally.leaks == 0
    assert tally.inside > 0 and tally.refused > 0


def test_the_whole_prompt_under_a_skill_swap_never_leaks(tmp_path: Path) -> None:
    """The skill listing too: a skill directory that is a link is never listed."""
    ws = _bot(tmp_path)
    decoy = ws / "decoy"
    decoy.symlink_to(tmp_path / "stolen" / "alpha")
    tally = race_reads(
        lambda: build_system_prompt(ws),
        ws / "skills" / "alpha",
        decoy,
        "Inside skills/alpha/SKILL.md.",
        READS // 2,  # a whole prompt per read
    )
    assert tally.leaks == 0
    assert tally.inside > 0 and tally.refused > 0


def test_memory_swapped_with_a_link_to_the_bot_dir_is_never_written_through(
    tmp_path: Path,
) -> None:
    ws = _bot(tmp_path)
    (ws / "decoy").symlink_to("..")
    bot_before = sorted(os.listdir(tmp_path))
    written = refused = number = 0
    with exchanging(ws / "memory", ws / "decoy") as exchanger:
        # At least WRITES writes, and on until both states were met (a write
        # finds the real directory only a few times in a hundred).
        while number < WRITES or not (written and refused):
            number += 1
            assert number <= 50 * WRITES, (written, refused)
            try:
                write_memory(ws, Consolidation(f"Memory {number}.", "an entry"), "2026-12-02")
            except WorkspacePathError:
                refused += 1
            else:
                written += 1
    assert exchanger.swaps > 0
    assert sorted(os.listdir(tmp_path)) == bot_before  # nothing in the bot directory
    assert sorted(os.listdir(tmp_path / "stolen")) == ["MEMORY.md", "alpha"]
    assert not list(tmp_path.rglob("*.tmp"))  # no temp file anywhere
    # Every write landed in the one real memory directory (under either name).
    real = ws / "memory" if not (ws / "memory").is_symlink() else ws / "decoy"
    history = (real / "HISTORY.md").read_text().splitlines()
    assert len(history) == written
    assert (real / "MEMORY.md").read_text().startswith("Memory ")
