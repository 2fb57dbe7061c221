"""Doctor: the bot's `.env` in the workspace under another name, and decorated dotenv names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autobot.doctor.findings import Report, Severity
from autobot.doctor.run import run_checks
from autobot.doctor.workspace_scan import find_dotenv_files
from autobot.security.protected_files import protected_file_ids

from .botdir import ANTHROPIC_KEY, Bot, make_bot, probe_ok


async def check(tmp_path: Path, made: Bot) -> Report:
    home = tmp_path / "h" / "me"
    home.mkdir(parents=True, exist_ok=True)
    return await run_checks(made.config, environ={}, probe=probe_ok, home=home)


async def test_a_hard_link_to_env_in_the_workspace_is_an_error(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot")
    (made.workspace / "docs").mkdir()
    link = made.workspace / "docs" / "notes.txt"
    os.link(made.env, link)
    report = await check(tmp_path, made)
    assert report.codes(Severity.ERROR) == ["env_link_in_workspace"]
    (finding,) = report.errors
    assert str(link) in finding.message and str(made.env) in finding.message
    assert finding.fix is not None and finding.fix.startswith(f"rm {link}")
    assert ANTHROPIC_KEY not in finding.message + finding.fix
    assert report.exit_code(strict=False) == 1


async def test_a_symlink_to_a_hard_link_outside_is_the_env_too(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot")
    elsewhere = tmp_path / "backup-of-settings"
    os.link(made.env, elsewhere)
    (made.workspace / "settings").symlink_to(elsewhere)
    report = await check(tmp_path, made)
    assert report.codes(Severity.ERROR) == ["env_link_in_workspace"]


@pytest.mark.parametrize("name", [".env~", "#.env#", ".env.swp", ".envrc", ".env1", ".env.bak"])
async def test_decorated_dotenv_names_in_the_workspace_are_errors(
    tmp_path: Path, name: str
) -> None:
    made = make_bot(tmp_path / "bot")
    (made.workspace / name).write_text("KEY=a-copy-of-a-secret\n")
    report = await check(tmp_path, made)
    assert report.codes(Severity.ERROR) == ["dotenv_in_workspace"]
    assert str(made.workspace / name) in report.errors[0].message


async def test_a_dotenv_named_hard_link_is_reported_once(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot")
    os.link(made.env, made.workspace / ".env.bak")
    report = await check(tmp_path, made)
    assert report.codes(Severity.ERROR) == ["dotenv_in_workspace"]


async def test_env_inside_the_workspace_is_not_reported_again_as_its_own_link(
    tmp_path: Path,
) -> None:
    made = make_bot(tmp_path / "bot", {"agents": {"defaults": {"workspace": "."}}})
    os.link(made.env, made.root / "workspace" / "copy.txt")
    report = await check(tmp_path, made)
    assert report.codes(Severity.ERROR) == ["env_in_workspace", "env_link_in_workspace"]
    assert str(made.root / "workspace" / "copy.txt") in report.errors[1].message


def test_scan_separates_links_from_dotenv_names(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("K=v")
    ws = tmp_path / "ws"
    (ws / "a").mkdir(parents=True)
    os.link(env, ws / "a" / "innocent.py")
    (ws / "a" / "copy.py").write_text("K=v")  # a copy is another file
    (ws / ".env.local").write_text("")
    scan = find_dotenv_files(ws, protected=protected_file_ids([env]))
    assert scan.found == (ws / ".env.local",)
    assert scan.env_links == (ws / "a" / "innocent.py",)
    assert find_dotenv_files(ws).env_links == ()
