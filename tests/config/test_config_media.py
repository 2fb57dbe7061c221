"""The media settings: `agents.defaults.vision` and `channels.telegram.transcription`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from autobot.config import ConfigError, load_config
from autobot.config.schema import TranscriptionConfig, VisionMode
from autobot.config.secret import Secret

WriteBot = Callable[..., Path]


def test_the_defaults_are_auto_vision_and_no_transcription(write_bot: WriteBot) -> None:
    config = load_config(write_bot("{}\n"), {}).config
    assert config.agents.defaults.vision is VisionMode.AUTO
    assert config.channels.telegram.transcription == TranscriptionConfig()
    assert config.channels.telegram.transcription.api_base is None


@pytest.mark.parametrize(
    ("written", "mode"),
    [
        ("auto", VisionMode.AUTO),
        ("on", VisionMode.ON),  # YAML 1.1 reads it as true: still the word meant
        ("off", VisionMode.OFF),
        ("'on'", VisionMode.ON),
        ('"off"', VisionMode.OFF),
    ],
)
def test_every_vision_mode_loads(write_bot: WriteBot, written: str, mode: VisionMode) -> None:
    config = load_config(write_bot(f"agents: {{defaults: {{vision: {written}}}}}\n"), {}).config
    assert config.agents.defaults.vision is mode


def test_booleans_are_no_word_of_an_enum_without_on_and_off(write_bot: WriteBot) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot("tools: {sandbox: on}\n"), {})
    [problem] = caught.value.problems
    assert (problem.path, problem.message) == (
        "tools.sandbox",
        "must be one of auto, bubblewrap, docker, none (got true)",
    )


def test_a_transcription_endpoint_loads_with_its_key_from_the_environment(
    write_bot: WriteBot,
) -> None:
    text = (
        "channels:\n  telegram:\n    transcription:\n"
        "      api_base: http://127.0.0.1:9000/v1\n"
        "      api_key: ${WHISPER_KEY}\n"
        "      model: whisper-large-v3\n"
        "      max_bytes: 1000000\n"
        "      timeout_seconds: 15\n"
    )
    config = load_config(write_bot(text), {"WHISPER_KEY": "sk-whisper"}).config
    assert config.channels.telegram.transcription == TranscriptionConfig(
        api_base="http://127.0.0.1:9000/v1",
        api_key=Secret("sk-whisper"),
        model="whisper-large-v3",
        max_bytes=1_000_000,
        timeout_seconds=15.0,
    )


def test_bad_media_settings_are_each_named(write_bot: WriteBot) -> None:
    text = (
        "agents: {defaults: {vision: yes-please}}\n"
        "channels:\n  telegram:\n    transcription:\n"
        "      api_base: ftp://whisper.example\n"
        "      model: ' '\n"
        "      max_bytes: 30000000\n"
        "      timeout_seconds: 0\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot(text), {})
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert set(problems) == {
        "agents.defaults.vision",
        "channels.telegram.transcription.api_base",
        "channels.telegram.transcription.model",
        "channels.telegram.transcription.max_bytes",
        "channels.telegram.transcription.timeout_seconds",
    }
    assert problems["agents.defaults.vision"].startswith("must be one of auto, on, off")
    assert "from 1 to 26214400" in problems["channels.telegram.transcription.max_bytes"]
    assert "http://" in problems["channels.telegram.transcription.api_base"]
