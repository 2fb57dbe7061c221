"""Family hints: necessary conditions, so the redactor's pre-scan never changes its output.

- Wherever a family's pattern matches ASCII text (at any start), its `hint`
  occurs inside the lowercased match. Checked per family on near-matches of
  that family (`FAMILY_TEXT`: right and wrong cases, separators, lengths
  around the minimum, neighbours that break the boundaries).
- `Redactor` (with the hint pre-scan) gives exactly the output of the full
  scan, which is the redactor without hints (how it ran before hints), on
  mixtures of every family's near-matches, with non-ASCII characters and
  known secrets.
"""

from __future__ import annotations

import re

import attrs
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from autobot.logs.redact import Redactor
from autobot.security.secret_patterns import SECRET_FAMILIES

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
WORD = ALNUM + "_-"


def run(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def fmt(template: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(template.format, *parts)


def token(prefixes: list[str], alphabet: str, minimum: int) -> st.SearchStrategy[str]:
    """A token family's prefix and a run around its minimum length."""
    return fmt("{}{}", st.sampled_from(prefixes), run(alphabet, max(0, minimum - 2), minimum + 4))


SPACE = st.sampled_from(["", " ", "\t", "  ", "\n"])
QUOTE = st.sampled_from(["", '"', "'"])
SEPARATOR = st.sampled_from([":", "=", "", " ", "-"])
VALUE = st.one_of(
    run(ALNUM + "_-./+=&;, ", 0, 20),
    fmt('"{}"', run(ALNUM + " \\'", 0, 12)),
    fmt("'{}'", run(ALNUM + ' "', 0, 12)),
)


def context(names: list[str], prefixes: list[str]) -> st.SearchStrategy[str]:
    """`prefix name quote space separator space value`, as the context families need."""
    return fmt(
        "{}{}{}{}{}{}{}",
        st.sampled_from(prefixes),
        st.sampled_from(names),
        QUOTE,
        SPACE,
        SEPARATOR,
        SPACE,
        VALUE,
    )


SENSITIVE_NAMES = [
    "password", "PassWD", "Pwd", "Secret", "TOKEN", "token", "api_key", "ApiKey", "api-key",
    "apikey", "access_key", "AccessKey", "private_key", "privatekey",
]  # fmt: skip
# Near-matches of each family, by family name.
FAMILY_TEXT: dict[str, st.SearchStrategy[str]] = {
    "pem_private_key": fmt(
        "-----BEGIN{}PRIVATE KEY-----{}{}",
        st.sampled_from(["", " ", " RSA ", " OPENSSH ", "X", " rsa "]),
        run(ALNUM + "\n/+=", 0, 20),
        st.sampled_from(["-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "", "-"]),
    ),
    "auth_header": context(
        ["Authorization", "authorization", "AUTHORIZATION", "x-api-key", "X_API_KEY", "x_api-key"],
        ["", "HTTP_", "http-", "Proxy-", "proxy_", "HTTP_PROXY_", "x"],
    ),
    "cookie": context(["cookie", "Cookie", "COOKIE"], ["", "Set-", "set_", "SET-", "x"]),
    "secret_param": fmt(
        "{}{}",
        context(SENSITIVE_NAMES, ["", "db_", "aws_secret_", "my-app-", "a_b_c_d_", "x"]),
        st.sampled_from(["", "s", "_count"]),
    ),
    "url_password": fmt(
        "{}://{}:{}{}{}",
        st.sampled_from(["https", "redis", "git+ssh", "x", "", "1a"]),
        run(ALNUM + ".-", 0, 6),
        run(ALNUM + "/?#:", 0, 8),
        st.sampled_from(["@", "/@", "", " @"]),
        run(ALNUM, 0, 4),
    ),
    "anthropic": token(["sk-ant-", "sk-ant-api03-", "mask-ant-"], WORD, 20),
    "openai": token(["sk-", "sk-proj-", "sk-svcacct-", "sk-admin-", "xsk-"], WORD, 20),
    "aws_secret_access_key": st.one_of(
        fmt(
            "{}{}{}{}",
            st.sampled_from(["AKIA", "ASIA", "akia", "xASIA"]),
            run(UPPER_DIGITS, 14, 18),
            st.sampled_from(["", " ", ",", "\t", ": ", '","', "       ", "\n"]),
            run(ALNUM + "/+", 38, 42),
        ),
        fmt(
            "{}{}{}{}{}{}",
            st.sampled_from(["", "aws_", "AWS-", "x", "my_", "Aws"]),
            st.sampled_from(
                [
                    "secret_access_key",
                    "SecretAccessKey",
                    "secret-key",
                    "SECRETKEY",
                    "secret_acces_key",
                ]
            ),
            st.sampled_from(["", '"', '\\"', "'"]),
            st.sampled_from([" = ", ":", "  ", "", "\t:\t", ' " : ', "     "]),
            st.sampled_from(["", '"', '\\"', "'"]),
            run(ALNUM + "/+=", 38, 42),
        ),
    ),
    "aws_access_key_id": token(["AKIA", "ASIA", "akia", "xASIA"], UPPER_DIGITS, 16),
    "bearer": token(["Bearer ", "bearer\t", "BEARER  ", "xbearer "], ALNUM + "._~+/-=", 16),
    "google_oauth": token(["ya29.", "YA29.", "xya29."], WORD, 20),
    "slack": token(["xoxb-", "xoxp-", "xoxe.xoxp-", "xoxe-", "xapp-", "XOXB-"], ALNUM + "-", 10),
    "github": st.one_of(
        token(["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "GHP_"], ALNUM, 30),
        token(["github_pat_", "GITHUB_PAT_"], ALNUM + "_", 22),
    ),
    "groq": token(["gsk_", "GSK_"], ALNUM, 20),
    "google_api_key": token(["AIza", "aiza"], WORD, 35),
    "telegram_bot_token": token(["123456:", "12345678901:", "12345:", "1234567890123:"], WORD, 30),
}
# What may stand beside a near-match: nothing, a word character that breaks
# a left or right boundary, separators.
NEIGHBOUR = st.sampled_from(["", " ", "x", "1", "_", "-", "\n", "=", '"', ":", "@", "/"])


def near(family: str) -> st.SearchStrategy[str]:
    return fmt("{}{}{}", NEIGHBOUR, FAMILY_TEXT[family], NEIGHBOUR)


# Characters where Unicode case-insensitive matching differs from `str.lower`:
# long s and dotless i match `s` and `i` under `(?i)`, the Kelvin sign `k`.
NON_ASCII = st.sampled_from(["\u017f", "\u0131", "\u212a", "\u00e9", "\u2028", "\U0001f600"])
MIXED_TEXT = st.lists(
    st.one_of(
        st.sampled_from(sorted(FAMILY_TEXT)).flatmap(near), NEIGHBOUR, run(WORD, 0, 8), NON_ASCII
    ),
    max_size=6,
).map("".join)
FULL_SCAN_FAMILIES = tuple(attrs.evolve(family, hint="") for family in SECRET_FAMILIES)
FAMILIES = {family.name: family for family in SECRET_FAMILIES}


def test_every_family_has_near_matches_that_do_match() -> None:
    assert sorted(FAMILY_TEXT) == sorted(FAMILIES)
    for name, family in FAMILIES.items():
        find(near(name), lambda text, pattern=family.pattern: pattern.search(text) is not None)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@settings(max_examples=300)
@given(data=st.data())
def test_every_match_of_a_family_contains_its_hint(name: str, data: st.DataObject) -> None:
    family = FAMILIES[name]
    hint = re.compile(family.hint)
    text = data.draw(near(name))
    for start in range(len(text) + 1):
        match = family.pattern.match(text, start)
        if match is not None:
            assert hint.search(match.group().lower()), match.group()


@settings(max_examples=1500)
@given(
    text=MIXED_TEXT,
    known=st.lists(st.sampled_from(["hunter2-secret", "AKIA", "abcdef", "Bearer x"]), max_size=2),
)
def test_redaction_with_hints_equals_the_full_scan(text: str, known: list[str]) -> None:
    fast = Redactor(known)
    full = Redactor(known, families=FULL_SCAN_FAMILIES)
    assert fast.redact_shapes(text) == full.redact_shapes(text)
    assert fast.redact(text) == full.redact(text)


def test_text_with_a_sensitive_word_but_no_match_is_unchanged() -> None:
    redactor = Redactor()
    # `Tokens:` and `max_tokens=` hold a sensitive word; no family matches them.
    for text in ["Tokens: in=10 out=5 session=15", "max_tokens=4096", "agent:telegram:42"]:
        assert redactor.redact(text) == text
    assert redactor.redact("TOKEN: abc") == "TOKEN: [REDACTED]"
    assert redactor.redact("\u017fecret=abc") == "\u017fecret=[REDACTED]"  # long s: non-ASCII
