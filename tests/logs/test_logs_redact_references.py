"""A `${VAR}` reference names a secret without being one: it stays readable."""

import pytest

from autobot.logs.redact import Redactor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('api_key: "${ANTHROPIC_API_KEY}"', 'api_key: "${ANTHROPIC_API_KEY}"'),
        ("token=${TELEGRAM_BOT_TOKEN}&x=1", "token=${TELEGRAM_BOT_TOKEN}&x=1"),
        ("token=abc${X}", "token=[REDACTED]"),
        ("password=${X}tail", "password=[REDACTED]"),
    ],
)
def test_bare_references_survive_but_anything_around_them_is_redacted(
    text: str, expected: str
) -> None:
    assert Redactor().redact(text) == expected


def test_a_loaded_value_is_still_redacted_next_to_a_reference() -> None:
    redactor = Redactor(["resolved-secret-value"])
    assert (
        redactor.redact("api_key=${KEY} -> resolved-secret-value") == "api_key=${KEY} -> [REDACTED]"
    )
