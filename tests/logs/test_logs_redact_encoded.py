"""Encoded forms of loaded secrets: base64, hex, percent-encoding, JSON escapes.

The oracles decode the redacted output independently of how the redactor
finds the forms: every run of base64 (at each of its 4 character alignments)
or hex (at both nibble alignments) is decoded, percent-escapes are unquoted,
JSON is parsed; the secret must not come back out of any of them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.logs.actor import render
from autobot.logs.records import Level, LogRecord, format_exception
from autobot.logs.redact import Redactor
from autobot.logs.secret_forms import encoded_forms

SECRET = 'sk-live/Key+with=odd chars&é"\\'  # every escaping rule has something to do
OTHER = "xoxb-unrelated-token-value"


def base64_decodings(text: str) -> list[bytes]:
    """Every run of (either alphabet's) base64 characters in `text`, decoded
    from each of its first four characters (a partial last group included)."""
    decoded: list[bytes] = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{2,}", text):
        standard = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            chunk = standard[start:]
            chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
            if chunk:
                decoded.append(base64.b64decode(chunk + "=" * (-len(chunk) % 4)))
    return decoded


def hex_decodings(text: str) -> list[bytes]:
    decoded: list[bytes] = []
    for run in re.findall(r"[0-9A-Fa-f]{2,}", text):
        for start in range(2):
            chunk = run[start:]
            decoded.append(binascii.unhexlify(chunk[: len(chunk) - len(chunk) % 2]))
    return decoded


_JSON_ESCAPE = re.compile(r'\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))')
_JSON_NAMED = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def json_unescaped(text: str) -> str:
    """`text` with every JSON string escape decoded (surrogate pairs joined)."""

    def one(match: re.Match[str]) -> str:
        code, named = match.groups()
        return chr(int(code, 16)) if code else _JSON_NAMED[named]

    joined = _JSON_ESCAPE.sub(one, text)
    return joined.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def leaks(secret: str, text: str) -> bool:
    """True when `secret` can be read back out of `text` by any decoding."""
    data = secret.encode()
    return (
        secret in text
        or secret in unquote(text)
        or secret in unquote_plus(text)
        or secret in json_unescaped(text)
        or any(data in decoded for decoded in base64_decodings(text) + hex_decodings(text))
    )


ENCODINGS: dict[str, Callable[[str], str]] = {
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64 unpadded": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "base64 urlsafe": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base64 in a longer stream, offset 1": lambda s: base64.b64encode(
        b"{" + s.encode() + b"}"
    ).decode(),
    "base64 in a longer stream, offset 2": lambda s: base64.urlsafe_b64encode(
        b"u:" + s.encode() + b"\n\x00\xff"
    ).decode(),
    "basic auth user:secret": lambda s: base64.b64encode(b"alice:" + s.encode()).decode(),
    "hex": lambda s: s.encode().hex(),
    "HEX": lambda s: s.encode().hex().upper(),
    "hex in a dump": lambda s: (b"\x00\x01" + s.encode() + b"\xfe").hex(),
    "percent (quote)": quote,
    "percent (everything)": lambda s: quote(s, safe=""),
    "percent (quote_plus)": quote_plus,
    "percent (encodeURIComponent)": lambda s: quote(s, safe="!'()*"),
    "percent (lower-case digits)": lambda s: re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(s, safe="")
    ),
    "json": lambda s: json.dumps(s)[1:-1],
    "json (utf-8)": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "json (escaped solidus)": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
}


def record_with(value: str) -> LogRecord:
    """`value` in every part of a record: source, message, a field name, field
    values (inside a URL and a JSON string), and a traceback."""
    try:
        raise ValueError(f"upstream said {value}")
    except ValueError as exc:
        exc_text = format_exception(exc)
    return LogRecord(
        time=1_764_057_181.5,
        level=Level.ERROR,
        source=f"http:{value}",
        message=f"request failed payload={value} next",
        fields=(
            (f"x{value}", "1"),
            ("url", f"https://api.example.com/v1/items?key={value}&page=2"),
            ("body", '{"nested": {"blob": "' + value + '"}, "n": 1}'),
        ),
        exc_text=exc_text,
    )


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_each_encoding_of_a_loaded_secret_is_redacted_in_every_part_of_a_record(
    encoding: str,
) -> None:
    encoded = ENCODINGS[encoding](SECRET)
    assert leaks(SECRET, encoded)  # the oracle sees the plain encoding
    line = render(record_with(encoded), Redactor([SECRET, OTHER]))
    assert not leaks(SECRET, line), line
    assert line.count("[REDACTED]") >= 6
    assert "https://api.example.com/v1/items?key=" in line and "&page=2" in line


def test_a_secret_json_encoded_in_a_json_log_line_stays_valid_json() -> None:
    document = json.dumps({"request": {"headers": {"x-token-copy": SECRET}}, "id": 7})
    out = Redactor([SECRET]).redact(document)
    parsed = json.loads(out)
    assert parsed == {"request": {"headers": {"x-token-copy": "[REDACTED]"}}, "id": 7}


def test_encoded_forms_are_precomputed_once_for_each_secret() -> None:
    forms = encoded_forms("hunter2-secret")
    assert "hunter2-secret" not in forms
    assert {
        base64.b64encode(b"hunter2-secret").decode(),
        "68756e746572322d736563726574",
        "68756E746572322D736563726574",
    } <= forms
    assert encoded_forms("abcdefgh") >= {"YWJjZGVmZ2g=", "YWJjZGVmZ2g", "6162636465666768"}


@pytest.mark.parametrize(
    "text",
    [
        "commit 3a708e2f3c1d2b4a5e6f7a8b9c0d1e2f3a4b5c6d merged",
        "sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "GET https://example.com/a%20b?q=x%2Fy&page=2 200",
        '{"n": 1, "s": "a\\/b \\u00e9", "data": "aGVsbG8gd29ybGQ="}',
        "uuid 123e4567-e89b-12d3-a456-426614174000 ok",
    ],
)
def test_text_with_no_loaded_secret_is_unchanged(text: str) -> None:
    assert Redactor([SECRET, OTHER]).redact(text) == text


# --- properties -------------------------------------------------------------

SECRET_TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="[]"), min_size=6, max_size=30
)
NOISE = st.binary(max_size=7)


@settings(max_examples=300)
@given(secret=SECRET_TEXT, before=NOISE, after=NOISE, urlsafe=st.booleans())
def test_base64_of_a_secret_anywhere_in_a_byte_stream_is_redacted(
    secret: str, before: bytes, after: bytes, urlsafe: bool
) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    stream = encode(before + secret.encode() + after).decode()
    out = Redactor([secret]).redact(f"blob={stream} end")
    assert not any(secret.encode() in decoded for decoded in base64_decodings(out))
    assert out.startswith("blob=") and out.endswith(" end")


@settings(max_examples=300)
@given(secret=SECRET_TEXT, before=NOISE, after=NOISE, upper=st.booleans())
def test_hex_of_a_secret_anywhere_in_a_dump_is_redacted(
    secret: str, before: bytes, after: bytes, upper: bool
) -> None:
    dump = (before + secret.encode() + after).hex()
    out = Redactor([secret]).redact(f"dump {dump.upper() if upper else dump} end")
    assert not any(secret.encode() in decoded for decoded in hex_decodings(out))


@settings(max_examples=300)
@given(
    secret=SECRET_TEXT,
    safe=st.sampled_from(["", "/", "!'()*", ";,/?:@&=+$!'()*#"]),
    plus=st.booleans(),
)
def test_a_percent_encoded_secret_in_a_url_is_redacted(secret: str, safe: str, plus: bool) -> None:
    encoded = quote_plus(secret, safe=safe) if plus else quote(secret, safe=safe)
    out = Redactor([secret]).redact(f"GET https://h.example/p?a=1&k={encoded}&b=2 HTTP/1.1")
    assert secret not in (unquote_plus(out) if plus else unquote(out))


@settings(max_examples=300)
@given(secret=SECRET_TEXT, ensure_ascii=st.booleans())
def test_a_json_escaped_secret_is_redacted(secret: str, ensure_ascii: bool) -> None:
    document = json.dumps({"k": [1, {"v": secret}]}, ensure_ascii=ensure_ascii)
    out = Redactor([secret]).redact(document)
    assert secret not in out
    assert secret not in json.dumps(json.loads(out), ensure_ascii=False)


def replace_every_occurrence(text: str, needles: set[str]) -> str:
    """The known pass done the slow, obvious way: every (overlapping) occurrence
    of every needle; overlapping spans merge, touching ones stay apart."""
    spans = sorted(
        (start, start + len(needle))
        for needle in needles
        for start in range(len(text))
        if text.startswith(needle, start)
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts, cursor = [], 0
    for start, end in merged:
        parts += [text[cursor:start], "[REDACTED]"]
        cursor = end
    return "".join(parts) + text[cursor:]


@settings(max_examples=500)
@given(
    secrets=st.lists(st.text("ab%2", min_size=6, max_size=9), min_size=1, max_size=5),
    text=st.text("ab%2 ", max_size=60),
)
def test_the_one_regex_finds_what_searching_every_form_separately_finds(
    secrets: list[str], text: str
) -> None:
    """Tiny alphabets, so forms overlap, nest and share prefixes all the time."""
    needles = set(secrets).union(*(encoded_forms(secret) for secret in secrets))
    assert Redactor(secrets).redact_known(text) == replace_every_occurrence(text, needles)
