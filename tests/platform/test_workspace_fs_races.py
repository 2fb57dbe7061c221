"""Workspace under a real attacker, on both resolvers (openat2 and the fd walk).

A thread swaps a name with a symlink leading out of the workspace using
`renameat2(RENAME_EXCHANGE)` in a tight loop while the workspace is read or
written through that name. Each test checks the race really ran (both states
were seen) and that the outside was never read or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.platform.workspace_fs import Refusal, Workspace, WorkspacePathError
from autobot.testing.exchange import exchanging

SECRET = b"ANTHROPIC_API_KEY=sk-ant-race-secret\n"
ROUNDS = 2000
MAX_WRITE_ROUNDS = 50 * ROUNDS


@pytest.fixture
def bot(tmp_path: Path) -> Path:
    """A bot directory: `.env` (the secret), `outside/doc.md` (the secret again)
    and `workspace/dir/doc.md`."""
    (tmp_path / ".env").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "doc.md").write_bytes(SECRET)
    (tmp_path / "workspace" / "dir").mkdir(parents=True)
    (tmp_path / "workspace" / "dir" / "doc.md").write_bytes(b"inside\n")
    return tmp_path


@pytest.fixture(params=["openat2", "walk"])
def opened(request: pytest.FixtureRequest, bot: Path) -> Iterator[Workspace]:
    use_openat2 = request.param == "openat2"
    with Workspace.open(bot / "workspace", openat2=use_openat2) as workspace:
        yield workspace
        assert workspace.uses_openat2 is use_openat2


def _race_reads(workspace: Workspace, relative: str, first: Path, second: Path) -> None:
    seen: dict[str, int] = {"inside": 0, "refused": 0}
    with exchanging(first, second) as exchanger:
        for _ in range(ROUNDS):
            try:
                data = workspace.read_bytes(relative, max_bytes=1000)
            except WorkspacePathError as exc:
                assert exc.refusal in (Refusal.SYMLINK, Refusal.NOT_DIRECTORY), str(exc)
                seen["refused"] += 1
                continue
            assert data == b"inside\n"  # never the secret
            seen["inside"] += 1
    assert exchanger.swaps > 0 and seen["inside"] > 0 and seen["refused"] > 0, seen


def test_a_file_swapped_with_a_link_to_dotenv_is_never_read(opened: Workspace, bot: Path) -> None:
    ws = bot / "workspace"
    (ws / "decoy").symlink_to("../../.env")
    _race_reads(opened, "dir/doc.md", ws / "dir" / "doc.md", ws / "decoy")


def test_a_directory_swapped_with_a_link_outside_is_never_entered(
    opened: Workspace, bot: Path
) -> None:
    ws = bot / "workspace"
    (ws / "decoy").symlink_to(bot / "outside")
    _race_reads(opened, "dir/doc.md", ws / "dir", ws / "decoy")


@pytest.mark.parametrize("make_dirs", [False, True], ids=["found", "made"])
def test_a_directory_swapped_with_a_link_up_is_never_written_through(
    opened: Workspace, bot: Path, make_dirs: bool
) -> None:
    """`make_dirs` always walks; without it openat2 resolves the directory."""
    ws = bot / "workspace"
    (ws / "decoy").symlink_to("..")
    before = sorted(os.listdir(bot))
    written = refused = number = 0
    with exchanging(ws / "dir", ws / "decoy") as exchanger:
        # At least ROUNDS writes, and on until both states were met (a write
        # finds the real directory only a few times in a thousand).
        while number < ROUNDS or not (written and refused):
            number += 1
            assert number <= MAX_WRITE_ROUNDS, (written, refused)
            try:
                with opened.directory("dir", make_dirs=make_dirs) as directory:
                    directory.write_bytes("doc.md", b"rewritten %d\n" % number)
                    directory.append_bytes("log.md", b"entry\n")
            except WorkspacePathError as exc:
                assert exc.refusal in (Refusal.SYMLINK, Refusal.NOT_DIRECTORY), str(exc)
                refused += 1
            else:
                written += 1
    assert exchanger.swaps > 0
    assert sorted(os.listdir(bot)) == before  # no doc.md, log.md or temp file up there
    assert (bot / "outside" / "doc.md").read_bytes() == SECRET
    real = ws / "decoy" if (ws / "dir").is_symlink() else ws / "dir"
    assert sorted(os.listdir(real)) == ["doc.md", "log.md"]  # no temp file left either
    assert (real / "log.md").read_bytes() == b"entry\n" * written
