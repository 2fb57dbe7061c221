"""Fixtures for config loading tests: a throwaway bot directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteBot = Callable[..., Path]


@pytest.fixture
def write_bot(tmp_path: Path) -> WriteBot:
    """`write_bot(config_text, env_text=None)` -> path of a fresh bot's config.yml."""

    def write(config_text: str, env_text: str | None = None) -> Path:
        bot_dir = tmp_path / "bot"
        bot_dir.mkdir(exist_ok=True)
        config_path = bot_dir / "config.yml"
        config_path.write_text(config_text, encoding="utf-8")
        if env_text is not None:
            (bot_dir / ".env").write_text(env_text, encoding="utf-8")
        return config_path

    return write
