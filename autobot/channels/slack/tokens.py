"""The form of Slack's two tokens (pure, light: the doctor imports it without
the HTTP client). `check_token` accepts `<prefix>` followed by letters,
digits and dashes, and names the config key, never the token, when not."""

from __future__ import annotations

import re

from autobot.config.secret import Secret

BOT_TOKEN_PREFIX = "xoxb-"
APP_TOKEN_PREFIX = "xapp-"
_TOKEN_BODY = re.compile(r"[A-Za-z0-9-]{8,250}")


def check_token(token: Secret | None, prefix: str, key: str) -> Secret:
    """`token` if it has the form `<prefix>letters-digits`; raises ValueError
    naming `key` (never the token) otherwise."""
    if token is None:
        raise ValueError(f"{key} is not set")
    value = token.reveal()
    if not value.startswith(prefix) or not _TOKEN_BODY.fullmatch(value[len(prefix) :]):
        raise ValueError(f"{key} is not a Slack token starting with {prefix!r}")
    return token
