"""Secret redaction for log text and records (pure).

A `Redactor` removes two kinds of secrets, in this order:

1. *Known secrets*: exact values loaded from `.env` and the config, and
   their encoded forms (base64, hex, percent-encoding, JSON escapes:
   `secret_forms.encoded_forms`), computed when the redactor is built. Every
   occurrence is replaced, including overlapping occurrences of different
   secrets (the union of their spans becomes one marker), so no fragment of
   a longer secret survives beside a shorter one. All of them are matched by
   one regex, a trie of their characters (`_literal_trie`), which the regex
   engine searches by skipping every character no form starts with: one scan
   of the text whatever the number of values.
2. *Shapes*: the `SECRET_FAMILIES` table (API keys, tokens, `password=`,
   Authorization headers, URL passwords, PEM keys), combined into a single
   alternation and scanned once. Only the secret part is replaced, so useful
   prefixes stay: `sk-ant-[REDACTED]`, `Bearer [REDACTED]`,
   `Authorization: [REDACTED]`, `https://bob:[REDACTED]@host`.

Known-secret threshold: values shorter than `MIN_KNOWN_SECRET_LENGTH` (6)
characters are *not* redacted by value, because replacing every `true`, `42`
or `a` would shred the logs and hint at the secret anyway. Every loaded value
of length >= 6 is always redacted. A short secret is still caught when it sits
in a recognisable context (`password=abc`, `Authorization: abc`), but not on
its own; `autobot doctor` warns about each one (`short_secret`), naming the
variable or key, never the value.

`redact_known` and `redact_shapes` are the two passes on their own, for text
whose structure is known: doctor applies only the exact pass to the wording it
writes itself (a key path such as `providers.x.api_key: must be a string` is
not a secret parameter), and the shape pass to the values it quotes.

Text with no secret in it is returned unchanged. Most log text has none, so
the shape pass first looks for any family's `hint` in the lowercased text
(one quick scan; see `secret_patterns`): ASCII text where no hint occurs
cannot match any family and is returned at once. Other text (and all
non-ASCII text, where case-insensitive matching goes beyond `str.lower`)
takes the full scan. The output is the same either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from autobot.config.secret import REDACTED
from autobot.logs.records import LogRecord
from autobot.logs.secret_forms import encoded_forms
from autobot.security.secret_patterns import SECRET_FAMILIES, SecretFamily, sensitive_name

MIN_KNOWN_SECRET_LENGTH = 6

Span = tuple[int, int]
_Trie = dict[str, "_Trie"]  # next character -> subtrie; "" marks the end of a word

# A bare `${VAR}` reference names a secret without being one (its resolved
# value is redacted as a known secret), so `api_key: "${KEY}"` stays readable.
_VARIABLE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def _replace_spans(text: str, spans: Iterable[Span]) -> str:
    """`text` with each (sorted, non-overlapping, non-empty) span replaced by the marker."""
    parts: list[str] = []
    cursor = 0
    for start, end in spans:
        parts.append(text[cursor:start])
        parts.append(REDACTED)
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def _merge(spans: list[Span]) -> list[Span]:
    """Union of possibly overlapping spans, sorted; touching spans stay separate."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _literal_trie(words: Iterable[str]) -> str:
    """A regex source matching exactly `words` (non-empty), longest first: the
    words as a trie, so at each character one branch can go on (a match
    attempt costs at most the longest word's length), and a word ending where
    a longer one goes on is an optional stop. Runs of single-child nodes become one literal, so the
    nesting (and this function's recursion) grows with the branchings, not
    with the length of a word."""
    root: _Trie = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here
    return _trie_source(root)


def _trie_source(node: _Trie) -> str:
    branches: list[str] = []
    for char, child in sorted(node.items()):
        if not char:
            continue
        run = [char]
        while len(child) == 1 and "" not in child:
            ((char, child),) = child.items()
            run.append(char)
        branches.append(re.escape("".join(run)) + _trie_source(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def _combine_hints(families: Iterable[SecretFamily]) -> re.Pattern[str] | None:
    """One alternation of every family's hint; None when a family has none
    (then every text takes the full scan)."""
    hints = [family.hint for family in families]
    return re.compile("|".join(hints)) if hints and all(hints) else None


def _combine(families: Iterable[SecretFamily]) -> tuple[re.Pattern[str], dict[int, range]]:
    """One alternation of every family plus, per family's outer group, the
    indices of its secret (inner) groups. The outer group closes last, so it is
    `match.lastindex` for whichever family matched."""
    sources: list[str] = []
    secret_groups: dict[int, range] = {}
    next_group = 1
    for family in families:
        sources.append(f"({family.pattern.pattern})")
        inner = family.pattern.groups
        secret_groups[next_group] = range(next_group + 1, next_group + 1 + inner)
        next_group += 1 + inner
    return re.compile("|".join(sources)), secret_groups


@attrs.frozen(init=False)
class Redactor:
    """Redacts known secret values and secret shapes from text and `LogRecord`s.

    Build it once at start from the loaded secrets (`Secret.reveal()` values);
    it is immutable and safe to share. `families` defaults to the shared table;
    the hint pre-scan is used only when every family has a hint.
    """

    known_secrets: tuple[str, ...]
    _known: re.Pattern[str] | None  # every known form (`_literal_trie`)
    _pattern: re.Pattern[str]
    _secret_groups: dict[int, range]
    _hints: re.Pattern[str] | None

    def __init__(
        self,
        known_secrets: Iterable[str] = (),
        families: Iterable[SecretFamily] = SECRET_FAMILIES,
    ) -> None:
        kept = {value for value in known_secrets if len(value) >= MIN_KNOWN_SECRET_LENGTH}
        forms = kept.union(*(encoded_forms(value) for value in kept))
        families = tuple(families)
        pattern, secret_groups = _combine(families)
        self.__attrs_init__(
            known_secrets=tuple(sorted(kept, key=lambda value: (-len(value), value))),
            known=re.compile(_literal_trie(forms)) if forms else None,
            pattern=pattern,
            secret_groups=secret_groups,
            hints=_combine_hints(families),
        )

    def redact_known(self, text: str) -> str:
        """`text` with every occurrence of a known secret (length >= 6), or of
        one of its encoded forms, replaced."""
        if self._known is None:
            return text
        spans: list[Span] = []
        found = self._known.search(text)
        while found is not None:  # the longest form at each start, overlapping ones too
            spans.append(found.span())
            found = self._known.search(text, found.start() + 1)
        return _replace_spans(text, _merge(spans)) if spans else text

    def redact_shapes(self, text: str) -> str:
        """`text` with the secret part of every `SECRET_FAMILIES` match replaced."""
        if self._hints is not None and text.isascii() and not self._hints.search(text.lower()):
            return text  # no family can match (the hints are necessary conditions)
        spans: list[Span] = []
        for match in self._pattern.finditer(text):
            assert match.lastindex is not None  # every alternative is a group
            for group in self._secret_groups[match.lastindex]:
                start, end = match.span(group)
                if end > start and not _VARIABLE_REFERENCE.fullmatch(text, start, end):
                    spans.append((start, end))
        return _replace_spans(text, spans) if spans else text

    def redact(self, text: str) -> str:
        """`text` with every known secret and every secret shape replaced by `[REDACTED]`."""
        return self.redact_shapes(self.redact_known(text))

    def redact_record(self, record: LogRecord) -> LogRecord:
        """A copy of `record` with source, message, every field name and value,
        and the traceback text redacted. A field whose *name* says it holds a
        secret (`api_key`, `bot_token`, `password`) has its whole value replaced."""
        fields = tuple(
            (self.redact(name), REDACTED if sensitive_name(name) else self.redact(value))
            for name, value in record.fields
        )
        return attrs.evolve(
            record,
            source=self.redact(record.source),
            message=self.redact(record.message),
            fields=fields,
            exc_text=None if record.exc_text is None else self.redact(record.exc_text),
        )
