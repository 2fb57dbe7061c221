"""Redactor: every family, known secrets, records; text around secrets survives."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.logs.actor import render
from autobot.logs.records import Level, LogRecord, format_exception
from autobot.logs.redact import MIN_KNOWN_SECRET_LENGTH, Redactor

TELEGRAM_SECRET = "AAH" + "x1Y2z3" * 6
PLAIN = Redactor()

# (text with secrets, expected). Text before, between and after each secret
# must come out byte for byte.
FAMILY_CASES = [
    (
        "key sk-ant-api03-realkey123456789012345678, then sk-ant-admin01-ZZZZZZZZZZZZZZZZZZZZZZ.",
        "key sk-ant-[REDACTED], then sk-ant-[REDACTED].",
    ),
    (
        "a sk-proj-abcdefghijklmnopqrstuvwx0123 b sk-ABCDEFGHIJKLMNOPQRSTUVWX c",
        "a sk-proj-[REDACTED] b sk-[REDACTED] c",
    ),
    ("id=AKIAIOSFODNN7EXAMPLE, ASIAABCDEFGHIJKLMNOP!", "id=AKIA[REDACTED], ASIA[REDACTED]!"),
    ("call with Bearer abc.DEF-123_456~789/xyz== ok", "call with Bearer [REDACTED] ok"),
    ("g ya29.a0AfH6SMBx-abcdefghijklmnop z", "g ya29.[REDACTED] z"),
    (
        "s xoxb-1234567890-abcdefghij / xoxp-99-abcdefghijkl / xapp-1-A0123456789-abc e",
        "s xoxb-[REDACTED] / xoxp-[REDACTED] / xapp-[REDACTED] e",
    ),
    (
        "gh ghp_" + "a1" * 18 + " and gho_" + "b2" * 18 + " and github_pat_" + "C3_" * 10 + ".",
        "gh ghp_[REDACTED] and gho_[REDACTED] and github_pat_[REDACTED].",
    ),
    ("groq gsk_" + "q" * 30 + " done", "groq gsk_[REDACTED] done"),
    ("maps AIza" + "B" * 35 + " done", "maps AIza[REDACTED] done"),
    (
        f"GET https://api.telegram.org/bot123456789:{TELEGRAM_SECRET}/getUpdates?offset=5",
        "GET https://api.telegram.org/bot123456789:[REDACTED]/getUpdates?offset=5",
    ),
    (f"token 987654:{TELEGRAM_SECRET} end", "token 987654:[REDACTED] end"),
    (
        "db postgres://app:pa55word@db:5432/x and redis://:s3cret@cache/0 ok",
        "db postgres://app:[REDACTED]@db:5432/x and redis://:[REDACTED]@cache/0 ok",
    ),
    (
        "GET /cb?code=1&access_token=abc123&password=p%40ss&apikey=K&x=2",
        "GET /cb?code=1&access_token=[REDACTED]&password=[REDACTED]&apikey=[REDACTED]&x=2",
    ),
    (
        '{"client_secret": "c s\\"q", "Password":"pw", "n": 1}',
        '{"client_secret": "[REDACTED]", "Password":"[REDACTED]", "n": 1}',
    ),
    ("db:\n  passwd: hunter22\n  host: x", "db:\n  passwd: [REDACTED]\n  host: x"),
    ("{'secret': 'abc', 'id': 3}", "{'secret': '[REDACTED]', 'id': 3}"),
    (
        "Authorization: Basic dXNlcjpwYXNz\r\nHost: x\r\nProxy-Authorization: Digest abc\r\n",
        "Authorization: [REDACTED]\r\nHost: x\r\nProxy-Authorization: [REDACTED]\r\n",
    ),
    (
        "headers={'x-api-key': 'k-123', 'accept': 'json'}",
        "headers={'x-api-key': '[REDACTED]', 'accept': 'json'}",
    ),
    (
        "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\nafter",
        "before\n-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----\nafter",
    ),
    (
        "truncated -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk",
        "truncated -----BEGIN OPENSSH PRIVATE KEY-----[REDACTED]",
    ),
    # a password with `/` (unparseable as host:port, so it is a password)
    (
        "clone https://u:pa/ss@host/repo.git and ftp://bob:a/b/c+d=@files:21/x done",
        "clone https://u:[REDACTED]@host/repo.git and ftp://bob:[REDACTED]@files:21/x done",
    ),
    ("p http://u:p@[::1]:80/x q", "p http://u:[REDACTED]@[::1]:80/x q"),
    # Slack refresh tokens and rotating tokens
    (
        "t xoxe-1-My0xLTEyMzQ1Njc4OTAtYWJj, r xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTA! x",
        "t xoxe-[REDACTED], r xoxe.xoxp-[REDACTED]! x",
    ),
    ("b xoxe.xoxb-1-abcdefghijklmnop.", "b xoxe.xoxb-[REDACTED]."),
    # cookies: the whole header value, to the end of the line
    (
        "GET / HTTP/1.1\r\nCookie: sid=abc123; theme=dark\r\nHost: x\r\n",
        "GET / HTTP/1.1\r\nCookie: [REDACTED]\r\nHost: x\r\n",
    ),
    (
        "HTTP/1.1 200 OK\nset-cookie: id=a3fWa; Expires=Thu, 21 Oct 2021; Secure\nVary: x",
        "HTTP/1.1 200 OK\nset-cookie: [REDACTED]\nVary: x",
    ),
    (
        "headers={'Cookie': 'a=b; c=d', 'Accept': 'json'} {\"Set-Cookie\": \"s=1\"}",
        "headers={'Cookie': '[REDACTED]', 'Accept': 'json'} {\"Set-Cookie\": \"[REDACTED]\"}",
    ),
    ("GET /x?cookie=abc&page=2 ok", "GET /x?cookie=[REDACTED]&page=2 ok"),
    # proxy credentials in every spelling
    (
        "Proxy-Authorization: Basic dXNlcjpwYXNz\nproxy_authorization=tok1 "
        "HTTP_PROXY_AUTHORIZATION: tok2 HTTP_AUTHORIZATION='tok3' x_api_key=k1",
        "Proxy-Authorization: [REDACTED]\nproxy_authorization=[REDACTED] "
        "HTTP_PROXY_AUTHORIZATION: [REDACTED] HTTP_AUTHORIZATION='[REDACTED]' x_api_key=[REDACTED]",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FAMILY_CASES)
def test_every_family_is_redacted_and_surroundings_survive(text: str, expected: str) -> None:
    assert PLAIN.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Tokens: input=1200 output=350 max_tokens=4096",
        "Executing tool: read_file path=notes/todo.md",
        "ACCESS DENIED: path outside workspace path=../../etc/passwd",
        "the bearer of bad news",
        "mask-ant-abcdefghijklmnopqrstuvwxyz is not a key",
        "https://example.com:8443/path?q=1",
        "time 12:34:56, id 123456789",
        "user@example.com wrote sk-... as a placeholder",
        # URLs with a port and an `@` later in the path or query are not passwords
        "POST http://127.0.0.1:8000/api/users/bob@example.com 200",
        "see https://mastodon.social:443/@Gargron and https://h:8080?to=a@b.c",
        "https://example.com/a:b@c and http://[::1]:8080/x@y and https://h/p?u=a:b@c",
        "cookies: 3, cookie_count=4, the cookies are fresh",
        "xoxe is not a token, nor xoxe-short",
    ],
)
def test_ordinary_log_text_is_unchanged(text: str) -> None:
    assert PLAIN.redact(text) == text


def test_known_secrets_are_replaced_everywhere_longest_and_overlapping() -> None:
    redactor = Redactor(["abcdef", "defghijk", "zzz", "plainpassword"])
    assert redactor.known_secrets == ("plainpassword", "defghijk", "abcdef")
    # overlapping occurrences merge: no tail of "defghijk" survives
    assert redactor.redact("x abcdefghijk y plainpassword zzz") == "x [REDACTED] y [REDACTED] zzz"
    assert redactor.redact("abcdefabcdef") == "[REDACTED][REDACTED]"


def test_threshold_short_values_are_not_redacted_by_value() -> None:
    short = "a" * (MIN_KNOWN_SECRET_LENGTH - 1)
    exact = "b" * MIN_KNOWN_SECRET_LENGTH
    redactor = Redactor([short, exact, "true", ""])
    assert redactor.known_secrets == (exact,)
    assert redactor.redact(f"{short} {exact} true") == f"{short} [REDACTED] true"
    # a short secret in a recognisable context is still caught by shape
    assert redactor.redact(f"password={short}") == "password=[REDACTED]"


def test_redact_record_covers_message_field_names_values_source_and_traceback() -> None:
    secret = "s3cr3t-VALUE-42"
    redactor = Redactor([secret])
    try:
        raise RuntimeError(f"login failed with {secret}")
    except RuntimeError as exc:
        exc_text = format_exception(exc)
    record = LogRecord(
        time=0.0,
        level=Level.ERROR,
        source=f"agent:{secret}",
        message=f"using {secret} now",
        fields=((secret, "v"), ("note", f"x{secret}y"), ("bot_token", "short"), ("n", "7")),
        exc_text=exc_text,
    )
    redacted = redactor.redact_record(record)
    assert redacted.message == "using [REDACTED] now"
    assert redacted.source == "agent:[REDACTED]"
    assert redacted.fields == (
        ("[REDACTED]", "v"),
        ("note", "x[REDACTED]y"),
        ("bot_token", "[REDACTED]"),  # the name says it is a secret
        ("n", "7"),
    )
    assert redacted.exc_text is not None
    assert secret not in redacted.exc_text
    assert "RuntimeError: login failed with [REDACTED]" in redacted.exc_text
    assert redacted.time == record.time and redacted.level == record.level


def test_render_redacts_a_secret_assembled_across_field_boundaries() -> None:
    redactor = Redactor(["alpha beta=gamma"])
    record = LogRecord(
        time=0.0, level=Level.INFO, source="s", message="alpha", fields=(("beta", "gamma"),)
    )
    line = render(record, redactor)
    assert "alpha beta=gamma" not in line
    assert line.endswith("[s] [REDACTED]")


# --- properties -------------------------------------------------------------

SECRET_ALPHABET = st.characters(codec="utf-8", exclude_characters="[]")  # utf-8: no surrogates
secrets = st.text(SECRET_ALPHABET, min_size=MIN_KNOWN_SECRET_LENGTH, max_size=40).filter(
    lambda value: value not in "[REDACTED]"
)
surrounding = st.text(st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=300, deadline=None)
@given(
    secret_list=st.lists(secrets, min_size=1, max_size=4),
    parts=st.lists(surrounding, min_size=5, max_size=5),
    field_name=surrounding,
)
def test_no_known_secret_survives_in_any_formatted_record(
    secret_list: list[str], parts: list[str], field_name: str
) -> None:
    redactor = Redactor(secret_list)
    first, second = secret_list[0], secret_list[-1]
    try:
        raise ValueError(parts[0] + first + parts[1])
    except ValueError as exc:
        exc_text = format_exception(exc)
    record = LogRecord(
        time=1_764_057_181.5,
        level=Level.WARN,
        source=parts[2],
        message=parts[3] + first + parts[4] + second,
        fields=((field_name + second, parts[1]), ("value", first + parts[0] + second)),
        exc_text=exc_text,
    )
    line = render(record, redactor)
    for secret in secret_list:
        assert secret not in line


# Secrets of the shape families that need context, each with its rendering
# in the text: (template, secret strategy). The template's `{}` is the secret.
# A recognisable prefix keeps a secret from occurring in the template by chance;
# it also keeps a URL password from looking like a port (digits, then `/`).
CONTEXT_SECRET = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+=._~!$-",
    max_size=40,
).map(lambda tail: "Zq9~" + tail)
SHAPED = st.one_of(
    # a URL password, often with `/` in it
    st.tuples(st.just("https://user:{}@db.example/x"), CONTEXT_SECRET),
    st.tuples(
        st.sampled_from(["Cookie: {}", "Set-Cookie: {}", "cookie='{}'"]),
        CONTEXT_SECRET.map(lambda value: "sid=" + value.replace("&", "")),
    ),
    st.tuples(
        st.sampled_from(
            ["Proxy-Authorization: {}", "proxy_authorization={}", "HTTP_AUTHORIZATION: {}"]
        ),
        CONTEXT_SECRET,
    ),
    st.tuples(
        st.sampled_from(["xoxe-{}", "xoxe.xoxp-{}", "xoxe.xoxb-{}"]),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=6, max_size=40).map(
            lambda tail: "Zq9-" + tail
        ),
    ),
)
# Text around a secret: line-separated, so header values end where the line does.
AROUND = st.text(alphabet="abcdefghijklmnopqrstuvwxyz .,()", max_size=40)


@settings(max_examples=300, deadline=None)
@given(shaped=st.lists(SHAPED, min_size=1, max_size=3), around=st.lists(AROUND, min_size=4))
def test_no_context_shaped_secret_survives_and_lines_around_it_do(
    shaped: list[tuple[str, str]], around: list[str]
) -> None:
    secrets = [value for _, value in shaped]
    lines = [template.format(value) for template, value in shaped]
    text = "\n".join([around[0], *(f"{line}\n{around[i + 1]}" for i, line in enumerate(lines))])
    out = PLAIN.redact(text)
    for secret in secrets:
        assert secret not in out
    for line in around[: len(lines) + 1]:
        assert line in out.split("\n")


SAFE_TEXT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 .,!?()'\"\n\t", max_size=300)


@settings(max_examples=300, deadline=None)
@given(text=SAFE_TEXT)
def test_text_without_secrets_is_never_changed(text: str) -> None:
    assert PLAIN.redact(text) == text


# Not a benchmark: linear redaction of 20 kB takes milliseconds, catastrophic
# backtracking takes minutes to hours. The bound only tells the two apart, so it
# is far above any noise on a loaded machine.
HANG_GUARD_SECONDS = 10.0


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(
        alphabet="aA0_-:=@/ .\"'sk-antAKIAghp_Bearer xox\n-----BEGIN PRIVATE KEY",
        min_size=2000,
        max_size=4000,
    )
)
def test_random_text_redacts_quickly_without_backtracking_blowup(text: str) -> None:
    start = time.perf_counter()
    PLAIN.redact(text * 5)
    assert time.perf_counter() - start < HANG_GUARD_SECONDS


@pytest.mark.parametrize(
    "text",
    ["a" * 50_000, "a-" * 25_000, "1" * 50_000 + ":", "x://" * 10_000, "password=" * 5_000],
)
def test_adversarial_long_runs_are_linear_enough(text: str) -> None:
    start = time.perf_counter()
    PLAIN.redact(text)
    assert time.perf_counter() - start < HANG_GUARD_SECONDS


def test_redacted_output_matches_marker_shape() -> None:
    out = PLAIN.redact("Authorization: Bearer abcdefghijklmnopqrstuvwx")
    assert re.fullmatch(r"Authorization: \[REDACTED\]", out)
