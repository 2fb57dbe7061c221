"""AWS secret access keys: 40 base64 characters after a key id or a secret-key name.

Not every 40-character token: git SHAs and other digests must survive.
"""

from __future__ import annotations

import pytest

from autobot.logs.redact import Redactor
from autobot.security.secret_patterns import SecretMatch, find_plaintext_secrets

KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PLAIN = Redactor()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"id AKIAIOSFODNN7EXAMPLE {KEY} ok", "id AKIA[REDACTED] [REDACTED] ok"),
        (f"AKIAIOSFODNN7EXAMPLE,{KEY}\n", "AKIA[REDACTED],[REDACTED]\n"),  # credentials CSV
        (f"ASIAIOSFODNN7EXAMPLE:{KEY}", "ASIA[REDACTED]:[REDACTED]"),
        (
            f'{{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{KEY}", "n": 1}}',
            '{"AccessKeyId": "ASIA[REDACTED]", "SecretAccessKey": "[REDACTED]", "n": 1}',
        ),
        (f'{{\\"SecretAccessKey\\": \\"{KEY}\\"}}', '{\\"SecretAccessKey\\": \\"[REDACTED]\\"}'),
        (f"secretAccessKey: '{KEY}',", "secretAccessKey: '[REDACTED]',"),
        (f"aws_secret_access_key = {KEY}\n", "aws_secret_access_key = [REDACTED]\n"),
        (f"AWS_SECRET_KEY={KEY} next", "AWS_SECRET_KEY=[REDACTED] next"),
        (
            f"$ aws configure set aws_secret_access_key {KEY}",
            "$ aws configure set aws_secret_access_key [REDACTED]",
        ),
        (
            f"run --secret-access-key {KEY} --region x",
            "run --secret-access-key [REDACTED] --region x",
        ),
    ],
)
def test_aws_secret_access_keys_are_redacted(text: str, expected: str) -> None:
    assert PLAIN.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "commit 3a708e2f3c1d2b4a5e6f7a8b9c0d1e2f3a4b5c6d merged into main",
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709, tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        f"a random 40-char token {KEY} on its own",
        f"AKIAIOSFODNN7EXAMPLE was rotated; new policy {'x' * 41}",
        "secret_key_rotation_days=90 secretkey 12",
        f"secret_key {KEY}extra",  # 44 characters: not the shape
    ],
)
def test_other_40_character_tokens_are_not_aws_secrets(text: str) -> None:
    expected = text.replace("AKIAIOSFODNN7EXAMPLE", "AKIA[REDACTED]")  # a key id still is one
    assert PLAIN.redact(text) == expected


def test_doctor_flags_an_aws_secret_key_in_config() -> None:
    text = f"# config\naws:\n  secretAccessKey: {KEY}\n"
    assert find_plaintext_secrets(text) == [SecretMatch(family="AWS secret access key", line=3)]
