"""The shared words for a workspace file a reply could not carry."""

from __future__ import annotations

import pytest

from autobot.channels.outbound_files import refusal_words, size_words
from autobot.platform.workspace_fs import Refusal


@pytest.mark.parametrize(
    ("refusal", "words"),
    [
        (Refusal.MISSING, "the file is gone"),
        (Refusal.SYMLINK, "it, or a directory on its way, is a symlink"),
        (Refusal.NOT_REGULAR, "it is not a regular file"),
        (Refusal.DOTENV, "it is a dotenv file"),
    ],
)
def test_refusals_a_user_can_act_on_have_words(refusal: Refusal, words: str) -> None:
    assert refusal_words(refusal, max_bytes=1) == words


@pytest.mark.parametrize(
    ("max_bytes", "words"),
    [
        (50 * 1024 * 1024, "it is larger than 50 MB"),
        (25 * 1024 * 1024, "it is larger than 25 MB"),
        (1024 * 1024, "it is larger than 1 MB"),
        (1000, "it is larger than 1000 bytes"),
        (3 * 1024 * 1024 + 1, f"it is larger than {3 * 1024 * 1024 + 1} bytes"),
    ],
)
def test_too_large_names_the_channels_own_limit(max_bytes: int, words: str) -> None:
    assert refusal_words(Refusal.TOO_LARGE, max_bytes=max_bytes) == words


@pytest.mark.parametrize(
    "refusal",
    [Refusal.INVALID, Refusal.OUTSIDE, Refusal.NOT_DIRECTORY, Refusal.EXISTS, Refusal.IO],
)
def test_other_refusals_are_left_to_the_channel(refusal: Refusal) -> None:
    assert refusal_words(refusal, max_bytes=1024) is None


def test_size_words() -> None:
    assert size_words(2 * 1024 * 1024) == "2 MB"
    assert size_words(512) == "512 bytes"
