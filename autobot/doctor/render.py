"""Turn a doctor `Report` into text or JSON (pure; no checking happens here)."""

from __future__ import annotations

import json

from autobot.doctor.findings import Finding, Report, Severity

_HEADINGS = {Severity.ERROR: "ERRORS", Severity.WARNING: "WARNINGS", Severity.INFO: "INFO"}
_JSON_KEYS = {Severity.ERROR: "errors", Severity.WARNING: "warnings", Severity.INFO: "info"}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def summary_line(report: Report) -> str:
    """`Summary: E errors, W warnings, I info` (always this shape; "1 error",
    "1 warning" in the singular)."""
    return (
        f"Summary: {_count(len(report.errors), 'error')}, "
        f"{_count(len(report.warnings), 'warning')}, {len(report.info)} info"
    )


def _bullet(finding: Finding) -> list[str]:
    first, *rest = finding.message.splitlines() or [""]
    lines = [f"  - {first}", *(f"      {line}" for line in rest)]
    if finding.fix:
        lines.append(f"    fix: {finding.fix}")
    return lines


def render_text(report: Report) -> str:
    """Sections `ERRORS (n)`, `WARNINGS (n)`, `INFO (n)` (empty ones left out), each
    finding a bullet with its fix on the next line, then the summary line."""
    lines: list[str] = []
    for severity in Severity:
        findings = report.of(severity)
        if not findings:
            continue
        lines.append(f"{_HEADINGS[severity]} ({len(findings)})")
        for finding in findings:
            lines += _bullet(finding)
        lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def report_json(report: Report, *, strict: bool) -> dict[str, object]:
    """The JSON document: findings by severity, counts, and `ok` (exit code 0)."""
    document: dict[str, object] = {
        _JSON_KEYS[severity]: [
            {"code": f.code, "message": f.message, "fix": f.fix} for f in report.of(severity)
        ]
        for severity in Severity
    }
    document["summary"] = {
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "info": len(report.info),
        "strict": strict,
    }
    document["ok"] = report.exit_code(strict=strict) == 0
    return document


def render_json(report: Report, *, strict: bool) -> str:
    """`report_json` serialized, indented, with a trailing newline."""
    return json.dumps(report_json(report, strict=strict), indent=2) + "\n"
