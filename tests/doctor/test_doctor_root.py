"""Running as root is a warning (checklist section 10: a dedicated user, not root)."""

from __future__ import annotations

from pathlib import Path

from autobot.doctor.run import run_checks

from .botdir import make_bot, probe_ok


async def test_root_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot")
    report = await run_checks(
        bot.config, environ={}, probe=probe_ok, home=tmp_path / "h", as_root=True
    )
    assert report.errors == ()
    assert [finding.code for finding in report.warnings] == ["running_as_root"]
    assert "dedicated unprivileged user" in (report.warnings[0].fix or "")
    assert report.exit_code(strict=True) == 1


async def test_an_unprivileged_user_gets_no_root_warning(tmp_path: Path) -> None:
    bot = make_bot(tmp_path / "bot")
    report = await run_checks(bot.config, environ={}, probe=probe_ok, home=tmp_path / "h")
    assert report.warnings == ()
