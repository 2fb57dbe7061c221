"""The encoded forms a known secret takes in log text (pure).

A secret loaded from `.env` reaches a log not only verbatim: inside an HTTP
Basic header or a data URL it is base64, in a request or memory dump hex, in
a query string percent-encoded, in a JSON body escaped. `encoded_forms` lists
those strings for one secret; the `Redactor` computes them once, when the
secrets load, and replaces them like the secret itself.

Base64 is not local: a secret inside a longer byte stream encodes differently
at each of the three byte alignments, and the characters at its two ends mix
its bits with its neighbours'. So each alignment contributes its *core*, the
characters computed from secret bits only, which occurs whatever surrounds
the secret; what may stay beside a redacted core is one boundary character at
each end, carrying at most 4 bits of the secret. The secret encoded alone is
listed whole too (with and without `=` padding), so it is replaced entirely.
Both alphabets: standard (`+/`) and URL-safe (`-_`).

Percent-encoding is not unique either: encoders differ in which characters
they leave alone and in the case of the hex digits. The forms cover the
common encoders (`encodeURIComponent`, `encodeURI`, Python's `quote` and
`quote_plus`, everything escaped), each with upper- and lower-case digits.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

# What each common percent-encoder leaves unescaped besides letters, digits and `_.-~`.
_PERCENT_SAFE = (
    "",  # everything else escaped: quote(safe="")
    "/",  # Python's quote() default
    "!'()*",  # JavaScript's encodeURIComponent
    ";,/?:@&=+$!'()*#",  # JavaScript's encodeURI
)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _base64_forms(data: bytes) -> Iterator[str]:
    """The whole encoding (padded and not) and the core at each alignment."""
    whole = base64.b64encode(data).decode("ascii")
    yield whole
    yield whole.rstrip("=")
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        first = (8 * offset + 5) // 6  # the first character made of secret bits only
        last = 8 * (offset + len(data)) // 6  # one past the last such character
        yield encoded[first:last]


def _percent_forms(secret: str) -> Iterator[str]:
    for safe in _PERCENT_SAFE:
        for encoded in (quote(secret, safe=safe), quote_plus(secret, safe=safe)):
            yield encoded
            yield _PERCENT_ESCAPE.sub(lambda escape: escape.group().lower(), encoded)


def _json_forms(secret: str) -> Iterator[str]:
    for ensure_ascii in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1]
        yield escaped
        yield escaped.replace("/", "\\/")  # PHP's and some Java encoders' escaped solidus


def encoded_forms(secret: str) -> frozenset[str]:
    """Every base64 (standard and URL-safe), hex (lower and upper case),
    percent-encoded and JSON-escaped form of `secret`, other than `secret`
    itself, that can stand in log text (see the module docstring)."""
    data = secret.encode("utf-8")
    forms: set[str] = set()
    for form in _base64_forms(data):
        forms.update((form, form.replace("+", "-").replace("/", "_")))
    forms.update((data.hex(), data.hex().upper()))
    forms.update(_percent_forms(secret))
    forms.update(_json_forms(secret))
    forms.discard(secret)
    forms.discard("")
    return frozenset(forms)
