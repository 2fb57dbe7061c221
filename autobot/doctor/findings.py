"""Doctor findings and the report that groups them.

A `Finding` is one observation about a bot directory: its severity, a stable
machine-readable `code` (for `--json` consumers and tests), a human message
and, when there is one, the exact fix. A `Report` is the ordered, immutable
collection of findings and decides the exit code.

Secrets: the wording the checks write themselves (key paths, file paths,
advice) is never pattern-redacted, so `providers.x.api_key: must be a string`
reads as written. Anything a finding quotes from outside (a config value,
another module's error text, a probe's output) goes through `quoted` or
`untrusted`, which redact secret shapes in it. `run_checks` then removes every
known secret value from the whole finding.
"""

from __future__ import annotations

import enum

import attrs

from autobot.logs.redact import Redactor

# Shape-only redaction (no known values): immutable, shared by every check.
_SHAPES = Redactor()


def untrusted(text: str) -> str:
    """`text` that the doctor did not write, with every secret shape redacted."""
    return _SHAPES.redact_shapes(text)


def quoted(value: object) -> str:
    """`'value'` for a message, with every secret shape in it redacted."""
    return f"'{untrusted(str(value))}'"


class Severity(enum.Enum):
    """How much a finding matters: errors block deployment, warnings deserve review."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@attrs.frozen(kw_only=True)
class Finding:
    """One doctor observation. `message` and `fix` never contain a secret value."""

    severity: Severity
    code: str
    message: str
    fix: str | None = None


def error(code: str, message: str, fix: str | None = None) -> Finding:
    """An ERROR finding."""
    return Finding(severity=Severity.ERROR, code=code, message=message, fix=fix)


def warning(code: str, message: str, fix: str | None = None) -> Finding:
    """A WARNING finding."""
    return Finding(severity=Severity.WARNING, code=code, message=message, fix=fix)


def info(code: str, message: str, fix: str | None = None) -> Finding:
    """An INFO finding."""
    return Finding(severity=Severity.INFO, code=code, message=message, fix=fix)


@attrs.frozen
class Report:
    """Every finding of one doctor run, in the order the checks produced them."""

    findings: tuple[Finding, ...]

    def of(self, severity: Severity) -> tuple[Finding, ...]:
        """The findings of one severity, in order."""
        return tuple(f for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return self.of(Severity.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return self.of(Severity.WARNING)

    @property
    def info(self) -> tuple[Finding, ...]:
        return self.of(Severity.INFO)

    def codes(self, severity: Severity) -> list[str]:
        """The codes of one severity, in order (handy for callers and tests)."""
        return [f.code for f in self.of(severity)]

    def exit_code(self, *, strict: bool) -> int:
        """1 when there is an error, or a warning under `strict`; else 0."""
        if self.errors or (strict and self.warnings):
            return 1
        return 0
