"""EnvMaskIndex on real directories: cheap when nothing changed, never misses a new or replaced dotenv.

Plain sync tests (no trio): the index is blocking code the pool runs in a thread.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot.platform.inotify import (
    IN_CREATE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    Event,
    parse_events,
)
from autobot.sandbox import env_index
from autobot.sandbox.env_index import EnvMaskIndex, dirty_directories
from autobot.sandbox.masks import EnvMask, find_env_masks


@pytest.fixture(params=[True, False], ids=["inotify", "walk"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EnvMaskIndex]:
    (tmp_path / ".env").write_text("A=1")
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "mod.py").write_text("x")
    (tmp_path / "src" / "prod.env").write_text("B=2")
    (tmp_path / "secrets.env").mkdir()
    (tmp_path / "secrets.env" / "key").write_text("C=3")
    (tmp_path / "outside").symlink_to("/etc")
    built = EnvMaskIndex(tmp_path, use_inotify=request.param)
    yield built
    built.close()


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every directory the index lists, in order."""
    seen: list[str] = []
    real = env_index.list_directory

    def counting(workspace: Path, rel: str, **options):  # type: ignore[no-untyped-def]
        seen.append(rel)
        return real(workspace, rel, **options)

    monkeypatch.setattr(env_index, "list_directory", counting)
    return seen


def test_first_scan_matches_a_full_walk(index: EnvMaskIndex) -> None:
    assert (
        index.refresh().masks
        == find_env_masks(index.workspace)
        == {
            EnvMask(".env", False),
            EnvMask("src/prod.env", False),
            EnvMask("secrets.env", True),
        }
    )


@pytest.mark.parametrize("index", [True], indirect=True, ids=["inotify"])
def test_nothing_changed_costs_no_listing(index: EnvMaskIndex, listings: list[str]) -> None:
    first = index.refresh()
    assert index.watching
    listings.clear()
    for _ in range(5):
        assert index.refresh() is first
    assert listings == [] and index.rebuilds == 1


@pytest.mark.parametrize("index", [True], indirect=True, ids=["inotify"])
def test_ordinary_writes_relist_one_directory_and_keep_the_masks(
    index: EnvMaskIndex, listings: list[str]
) -> None:
    before = index.refresh()
    listings.clear()
    (index.workspace / "src" / "pkg" / "new.py").write_text("y")
    (index.workspace / ".env").write_text("A=changed in place")  # same inode: still masked
    after = index.refresh()
    assert listings == ["src/pkg"]
    assert before.covers(after) and after == before


@pytest.mark.parametrize(
    "change",
    [
        "new file",
        "new nested directories",
        "atomic save over it",
        "delete and recreate",
        "rename onto a dotenv name",
        "dotenv directory",
    ],
)
def test_new_or_replaced_dotenv_is_not_covered(index: EnvMaskIndex, change: str) -> None:
    root = index.workspace
    before = index.refresh()
    if change == "new file":
        (root / "src" / "pkg" / ".env.local").write_text("x")
    elif change == "new nested directories":
        (root / "a" / "b" / "c").mkdir(parents=True)
        (root / "a" / "b" / "c" / "deep.env").write_text("x")
    elif change == "atomic save over it":
        (root / ".env.tmp123").write_text("A=new secret")
        os.replace(root / ".env.tmp123", root / ".env")
    elif change == "delete and recreate":
        (root / "src" / "prod.env").unlink()
        (root / "src" / "prod.env").write_text("B=new secret")
    elif change == "rename onto a dotenv name":
        (root / "src" / "pkg" / "mod.py").rename(root / "src" / "pkg" / "x.env")
    else:
        (root / "src" / "pkg" / "conf.env").mkdir()
    after = index.refresh()
    assert not before.covers(after)
    assert after.masks == find_env_masks(root)


def test_removed_dotenv_needs_no_new_sandbox(index: EnvMaskIndex) -> None:
    before = index.refresh()
    (index.workspace / "src" / "prod.env").unlink()
    after = index.refresh()
    assert before.covers(after) and EnvMask("src/prod.env", False) not in after.masks


@pytest.mark.parametrize("index", [True], indirect=True, ids=["inotify"])
def test_moved_directory_rebuilds(index: EnvMaskIndex) -> None:
    index.refresh()
    (index.workspace / "src").rename(index.workspace / "lib")
    (index.workspace / "lib" / "later.env").write_text("x")
    after = index.refresh()
    assert index.rebuilds == 2
    assert after.masks == find_env_masks(index.workspace)
    assert EnvMask("lib/later.env", False) in after.masks
    (index.workspace / "lib" / "pkg" / "again.env").write_text("x")
    assert EnvMask("lib/pkg/again.env", False) in index.refresh().masks  # watches follow


@pytest.mark.parametrize("index", [True], indirect=True, ids=["inotify"])
def test_inside_a_masked_directory_or_through_a_symlink_is_not_watched(
    index: EnvMaskIndex, listings: list[str]
) -> None:
    first = index.refresh()
    listings.clear()
    (index.workspace / "secrets.env" / "more").write_text("x")
    assert index.refresh() is first and listings == []


@pytest.mark.parametrize("index", [False], indirect=True, ids=["walk"])
def test_without_inotify_every_refresh_walks(index: EnvMaskIndex) -> None:
    first = index.refresh()
    second = index.refresh()
    assert not index.watching and index.rebuilds == 2
    assert first.covers(second) and second.covers(first)


def test_close_releases_the_descriptor(tmp_path: Path) -> None:
    index = EnvMaskIndex(tmp_path)
    index.refresh()
    fd = index._inotify.fd  # type: ignore[union-attr]
    index.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def record(wd: int, mask: int, name: str = "") -> bytes:
    raw = name.encode()
    padded = raw + b"\0" * (16 - len(raw) % 16) if raw else b""
    return struct.pack("iIII", wd, mask, 0, len(padded)) + padded


def test_parse_events() -> None:
    buffer = record(1, IN_CREATE, ".env") + record(2, IN_IGNORED) + record(3, IN_MOVED_TO, "a" * 16)
    assert parse_events(buffer) == [
        Event(1, IN_CREATE, ".env"),
        Event(2, IN_IGNORED, ""),
        Event(3, IN_MOVED_TO, "a" * 16),
    ]


WATCHED = {1: ".", 2: "src"}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], {}),
        ([Event(1, IN_CREATE, "a"), Event(1, IN_CREATE, "b"), Event(2, IN_CREATE, "c")],
         {".": {"a", "b"}, "src": {"c"}}),
        ([Event(1, IN_CREATE | IN_ISDIR, "newdir")], {".": {"newdir"}}),
        ([Event(9, IN_CREATE, "x")], {}),  # no longer watched
        ([Event(2, IN_DELETE_SELF, ""), Event(2, IN_IGNORED, "")], {}),
        ([Event(1, IN_CREATE, "a"), Event(-1, IN_Q_OVERFLOW, "")], None),
        ([Event(1, IN_MOVED_FROM | IN_ISDIR, "src")], None),
        ([Event(1, IN_MOVED_TO | IN_ISDIR, "from-outside")], None),
        ([Event(1, IN_MOVED_TO, "file.env")], {".": {"file.env"}}),
    ],
)  # fmt: skip
def test_dirty_directories(events: list[Event], expected: dict[str, set[str]] | None) -> None:
    assert dirty_directories(events, WATCHED) == expected


@pytest.mark.parametrize("index", [True], indirect=True, ids=["inotify"])
def test_cached_if_quiet_hands_pending_events_to_refresh(index: EnvMaskIndex) -> None:
    assert index.cached_if_quiet() is None  # never scanned yet
    first = index.refresh()
    assert index.cached_if_quiet() is first
    (index.workspace / "late.env").write_text("x")
    assert index.cached_if_quiet() is None  # the event is read here...
    after = index.refresh()  # ...and applied here
    assert EnvMask("late.env", False) in after.masks and not first.covers(after)
    assert index.cached_if_quiet() is after


@pytest.mark.parametrize("index", [False], indirect=True, ids=["walk"])
def test_cached_if_quiet_never_answers_without_inotify(index: EnvMaskIndex) -> None:
    index.refresh()
    assert index.cached_if_quiet() is None
