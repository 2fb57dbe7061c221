"""System prompt assembly from the workspace, including hostile workspaces."""

from __future__ import annotations

from pathlib import Path

from autobot.agent.context import IDENTITY, MAX_FILE_CHARS, build_system_prompt


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
