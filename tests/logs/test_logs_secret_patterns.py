"""find_plaintext_secrets: what doctor flags in config.yml, and what it must not."""

from __future__ import annotations

import pytest

from autobot.security.secret_patterns import (
    SecretMatch,
    find_plaintext_secrets,
    is_placeholder,
    sensitive_name,
)

TELEGRAM = "123456789:AAH" + "x1Y2z3" * 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_key: sk-ant-api03-realkey123456789012345678", "Anthropic API key"),
        ("key: AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
        (f"token: {TELEGRAM}", "Telegram bot token"),
        (f"url: https://api.telegram.org/bot{TELEGRAM}/getMe", "Telegram bot token"),
        ("api_key: sk-proj-abcdefghijklmnopqrstuvwx0123", "OpenAI-style API key"),
        ("bot_token: xoxb-1234567890-abcdefghij", "Slack token"),
        ("app_token: xapp-1-A0123456789-abcdef", "Slack token"),
        ("gh: ghp_" + "a1" * 18, "GitHub token"),
        ("gh: github_pat_" + "A1_" * 10, "GitHub token"),
        ("api_key: gsk_" + "q" * 30, "Groq API key"),
        ("key: AIza" + "B" * 35, "Google API key"),
        ("oauth: ya29." + "c" * 30, "Google OAuth token"),
        ("header: Bearer abcdefghijklmnop1234", "Bearer token"),
        ("bridge_token: s3cr3t-value", "secret parameter"),
        ('"password": "hunter22"', "secret parameter"),
        ("dsn: postgres://app:pa55word@db:5432/x", "password in a URL"),
        ("dsn: https://app:pa/ss@db/x", "password in a URL"),
        ("refresh: xoxe-1-abcdefghijklmnop", "Slack token"),
        ("rotating: xoxe.xoxp-1-abcdefghijklmnop", "Slack token"),
        ("header: 'Cookie: sid=abc123'", "cookie header"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", "PEM private key"),
    ],
)
def test_real_secrets_are_flagged_by_family_without_the_value(text: str, expected: str) -> None:
    matches = find_plaintext_secrets("# config\n" + text + "\n")
    assert matches == [SecretMatch(family=expected, line=2)]


@pytest.mark.parametrize(
    "text",
    [
        'api_key: "${ANTHROPIC_API_KEY}"',
        "api_key: ${ANTHROPIC_API_KEY}",
        "api_key: sk-ant-...",
        "api_key: sk-...",
        "api_key: sk-ant-your-key",
        "token: <your-telegram-token>",
        "token: xxxxxxxxxxxx",
        "token: null",
        "token: ~",
        'token: ""',
        "token:",
        "max_tokens: 4096",
        "input_tokens: 12",
        "allow_from: ['@alice', '123456789']",
        "dsn: postgres://app:${DB_PASSWORD}@db/x",
        "time: 12:34:56",
        "api_base: http://127.0.0.1:8000/v1/users/bob@example.com",
    ],
)
def test_references_placeholders_and_harmless_keys_are_not_flagged(text: str) -> None:
    assert find_plaintext_secrets(text) == []


def test_specific_family_wins_over_generic_on_the_same_line_and_lines_are_ordered() -> None:
    text = "a: 1\nkey: AKIAIOSFODNN7EXAMPLE\napi_key: sk-ant-api03-realkey123456789012345678\n"
    assert find_plaintext_secrets(text) == [
        SecretMatch("AWS access key id", 2),
        SecretMatch("Anthropic API key", 3),
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("password", True),
        ("api_key", True),
        ("API-KEY", True),
        ("bot_token", True),
        ("aws_secret_access_key", True),
        ("client_secret", True),
        ("tokens", False),
        ("input_tokens", False),
        ("token_count", False),
        ("path", False),
        ("Authorization", True),
        ("proxy_authorization", True),
        ("cookie", True),
        ("Set-Cookie", True),
        ("cookies", False),
    ],
)
def test_sensitive_name_table(name: str, expected: bool) -> None:
    assert sensitive_name(name) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("${X}", True), ("sk-ant-...", True), ("****", True), ("<key>", True), ("hunter22", False)],
)
def test_is_placeholder_table(value: str, expected: bool) -> None:
    assert is_placeholder(value) is expected
