"""The table of secret shapes, shared by log redaction and doctor's config scan (pure).

Each `SecretFamily` is one compiled regex whose *capturing groups are the
secret parts*: redaction replaces exactly those spans and keeps everything else
(`sk-ant-[REDACTED]`, `Bearer [REDACTED]`, `Authorization: [REDACTED]`,
`https://user:[REDACTED]@host`). Patterns use no other capturing groups.

Every pattern is a fixed or bounded prefix followed by a single character-class
run, anchored on a left boundary, so matching stays linear in practice (no
nested unbounded quantifiers, no catastrophic backtracking).

Limits, by design: an unquoted `password: two words` value is matched up to the
first space (quote it, or rely on the exact known-secret pass of the
`Redactor`); passwords containing `@` inside URLs are cut at the first `@`.

URL passwords: RFC 3986 ends the authority at the first `/`, so a parser reads
`https://u:pa/ss@host` as host `u`, port `pa`, path `/ss@host`. An operator who
pastes such a URL still means `pa/ss` as the password, so the pattern accepts
`/` (and `?`, `#`) inside it, except when what follows the colon is a port (only
digits, then `/`, `?` or `#`): `http://127.0.0.1:8000/users/bob@example.com` and
`https://host:443/@alice` are ordinary URLs and stay untouched. A password that
starts with digits followed by `/` is therefore not recognised by shape. The
password run is bounded (`_URL_PASSWORD_MAX`) to keep scanning linear.

Cookies: an unquoted `Cookie:` / `Set-Cookie:` value is redacted to the end of
the line (or a `&`, for `cookie=` in a query string): every cookie in it may be
a session credential.

Hints: each family also has a `hint`, a regex that finds something in the
*lowercased* text wherever its pattern matches ASCII text (a necessary
condition: the fixed part every match contains, such as `sk-`, `://` or a
key name followed by `:` / `=`). The redactor scans text none of whose hints
match no further; every hint starts with a literal character so that the
combined hint scan skips ahead in C. A new family needs a hint that holds for
all of its matches; `tests/security/test_secret_hints.py` checks that
property for every family.
"""

from __future__ import annotations

import re

import attrs

# Left boundary shared by the token families: a secret does not start in the
# middle of a longer identifier (`mask-ant-...` is not `sk-ant-...`).
_B = r"(?<![A-Za-z0-9_-])"

# Names of parameters/keys whose value is a secret. An optional short prefix
# (`bot_token`, `db_password`, `aws_secret_access_key`) is allowed; the name
# must end there (`max_tokens`, `token_count` are not secrets).
_SENSITIVE_WORDS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api[_-]?key",
    "apikey",
    "access[_-]?key",
    "private[_-]?key",
)
SENSITIVE_NAME = r"(?:[A-Za-z0-9]+[_-]){0,3}(?:" + "|".join(_SENSITIVE_WORDS) + ")"
_NAME_END = r"(?![A-Za-z0-9_-])"

# Longest password matched inside a URL (bounds the scan from each `scheme://`).
_URL_PASSWORD_MAX = 1024

# A value: double-quoted (JSON escapes allowed), single-quoted, or a bare run.
_VALUE = r"""(?:"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)'|([^\s"'&,;<>\[\]]+))"""


@attrs.frozen(kw_only=True)
class SecretFamily:
    """One kind of secret: `name` (stable id), `label` (for humans), `pattern`,
    and `hint` (a regex over the lowercased text that matches wherever
    `pattern` matches ASCII text; see the module docstring).

    `generic` families match by context (a key name, a header, a URL) rather
    than by the credential's own shape; doctor prefers a specific family when
    both match one line.
    """

    name: str
    label: str
    pattern: re.Pattern[str]
    hint: str
    generic: bool = False


def _family(
    name: str, label: str, source: str, *, hint: str, generic: bool = False
) -> SecretFamily:
    return SecretFamily(
        name=name, label=label, pattern=re.compile(source), hint=hint, generic=generic
    )


# What follows a key name in every `name: value` / `name=value` context family
# (header, cookie, secret parameter): the hints of those families end with it.
_SEPARATOR_HINT = r"[\"']?[ \t]*[:=]"


def _names_hint(*names: str) -> str:
    """Hint for `name<separator>` contexts: every lowercase `names` alternative
    followed by `_SEPARATOR_HINT` (each alternative starts with a literal)."""
    return "|".join(name + _SEPARATOR_HINT for name in names)


SECRET_FAMILIES: tuple[SecretFamily, ...] = (
    # Order matters for redaction: at one position the first family wins, so
    # context families (headers, key=value) come before the bare shapes they
    # may contain, and `sk-ant-` before `sk-`.
    _family(
        "pem_private_key",
        "PEM private key",
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----"
        r"([\s\S]*?)(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----|\Z)",
        hint="-----begin",
    ),
    _family(
        "auth_header",
        "Authorization header",
        # also WSGI/CGI names (HTTP_AUTHORIZATION, HTTP_PROXY_AUTHORIZATION) and
        # keyword spellings (proxy_authorization=, x_api_key=)
        _B + r"(?i:(?:http[_-])?(?:proxy[_-])?authorization|x[_-]api[_-]key)"
        r"[\"']?[ \t]*[:=][ \t]*"
        r"""(?:"([^"\n]*)"|'([^'\n]*)'|((?:[A-Za-z]+[ \t]+)?[^\s"'&,;]+))""",
        hint=_names_hint("authorization", "x[_-]api[_-]key"),
        generic=True,
    ),
    _family(
        "cookie",
        "cookie header",
        _B + r"(?i:(?:set[_-])?cookie)[\"']?[ \t]*[:=][ \t]*"
        r"""(?:"([^"\n]*)"|'([^'\n]*)'|([^\s"'&][^\r\n"'&]*))""",
        hint=_names_hint("cookie"),
        generic=True,
    ),
    _family(
        "secret_param",
        "secret parameter",
        _B + r"(?i:" + SENSITIVE_NAME + r")" + _NAME_END + r"[\"']?[ \t]*[:=][ \t]*" + _VALUE,
        hint=_names_hint(*_SENSITIVE_WORDS),
        generic=True,
    ),
    _family(
        "url_password",
        "password in a URL",
        r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/:@\[\]]*:"
        rf"(?![0-9]*[/?#])([^\s@]{{1,{_URL_PASSWORD_MAX}}})@",
        hint=r"://[^\s/:@\[\]]*:",
        generic=True,
    ),
    _family("anthropic", "Anthropic API key", _B + r"sk-ant-([A-Za-z0-9_-]{20,})", hint="sk-ant-"),
    _family(
        "openai",
        "OpenAI-style API key",
        _B + r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?([A-Za-z0-9_-]{20,})",
        hint="sk-",
    ),
    _family(
        # 40 base64 characters after an access key id (CSV credential files,
        # `id secret` pairs) or after a secret-key name in any spelling
        # (`aws_secret_access_key =`, `"SecretAccessKey": "`, `secretAccessKey:`,
        # `--secret-access-key `); before `aws_access_key_id`, so a pair is
        # redacted whole. A 40-character token elsewhere (a git SHA) is not one.
        "aws_secret_access_key",
        "AWS secret access key",
        r"(?<![A-Za-z0-9])(?:(?:AKIA|ASIA)([A-Z0-9]{16})[ \t,:;|\"'=]{1,6}"
        r"|(?i:(?:aws[_-]?)?secret[_-]?(?:access[_-]?)?key)"
        r"(?:\\?[\"'])?(?:[ \t]{0,4}[:=][ \t]{0,4}|[ \t]{1,4})(?:\\?[\"'])?)"
        r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        hint=r"akia|asia|secret[_-]?(?:access[_-]?)?key",
    ),
    _family(
        "aws_access_key_id",
        "AWS access key id",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA)([A-Z0-9]{16})(?![A-Za-z0-9])",
        hint="akia|asia",
    ),
    _family(
        "bearer",
        "Bearer token",
        r"(?<![A-Za-z0-9])(?i:bearer)[ \t]+([A-Za-z0-9._~+/-]{16,}=*)",
        hint=r"bearer[ \t]",
    ),
    _family(
        "google_oauth",
        "Google OAuth token",
        _B + r"ya29\.([A-Za-z0-9_-]{20,})",
        hint=r"ya29\.",
    ),
    _family(
        "slack",
        "Slack token",
        # xoxe- refresh tokens, and rotating tokens spelled xoxe.xoxp- / xoxe.xoxb-
        _B + r"(?:xoxe\.)?(?:xox[abposre]|xapp)-([A-Za-z0-9-]{10,})",
        hint="xox[abposre]-|xapp-",
    ),
    _family(
        "github",
        "GitHub token",
        _B + r"(?:gh[pousr]_([A-Za-z0-9]{30,})|github_pat_([A-Za-z0-9_]{22,}))",
        hint="gh[pousr]_|github_pat_",
    ),
    _family("groq", "Groq API key", _B + r"gsk_([A-Za-z0-9]{20,})", hint="gsk_"),
    _family("google_api_key", "Google API key", _B + r"AIza([0-9A-Za-z_-]{35})", hint="aiza"),
    _family(
        "telegram_bot_token",
        "Telegram bot token",
        r"(?<![0-9])[0-9]{6,12}:([A-Za-z0-9_-]{30,})",
        hint=":[a-z0-9_-]{30}",
    ),
)


def sensitive_name(name: str) -> bool:
    """True when a field/key name itself says its value is a secret (`api_key`,
    `bot_token`, or a credential-carrying header such as `authorization`, `cookie`)."""
    return _SENSITIVE_NAME_RE.fullmatch(name) is not None


_SENSITIVE_NAME_RE = re.compile(
    r"(?i:" + SENSITIVE_NAME + r"|(?:proxy[_-])?authorization|(?:set[_-])?cookie)"
)


@attrs.frozen
class SecretMatch:
    """A plaintext secret found by `find_plaintext_secrets`: its family label and
    1-based line. Never carries the secret value."""

    family: str
    line: int


# Values that are clearly not a real credential: `${VAR}` references, YAML
# nulls/booleans, `<your key>`, `sk-ant-...`, `your-key`, `xxxxxxxx`, `****`.
_PLACEHOLDER = re.compile(
    r"""(?ix)
    .*\$\{[^}]*\}.*          # a ${VAR} reference anywhere
    | null | none | ~ | true | false
    | <[^>]*>                # <your-key>
    | .*(?:\.\.\.|\u2026)    # ends in ... (sk-ant-...)
    | .*\byour[-_].*          # sk-ant-your-key, your_token_here
    | [x*._-]+               # xxxx, ****
    """
)


def is_placeholder(value: str) -> bool:
    """True for values that are obviously not a real secret (see `_PLACEHOLDER`)."""
    return _PLACEHOLDER.fullmatch(value.strip()) is not None


def find_plaintext_secrets(text: str) -> list[SecretMatch]:
    """Every line of `text` that holds a plaintext secret, in line order.

    Each family is scanned on its own; a match counts unless all of its secret
    groups are empty or placeholders (`${VAR}`, `sk-ant-...`, `<key>`). On a
    line where a specific family (a credential shape) matched, the generic
    context families are not reported again.
    """
    found: dict[int, dict[str, bool]] = {}
    for family in SECRET_FAMILIES:
        for match in family.pattern.finditer(text):
            values = [group for group in match.groups() if group]
            if not values or all(is_placeholder(value) for value in values):
                continue
            line = text.count("\n", 0, match.start()) + 1
            found.setdefault(line, {})[family.label] = family.generic
    results: list[SecretMatch] = []
    for line in sorted(found):
        labels = found[line]
        specific = [label for label, generic in labels.items() if not generic]
        for label in specific or list(labels):
            results.append(SecretMatch(family=label, line=line))
    return results
