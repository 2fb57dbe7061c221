"""The summary line counts in words a person would write: "1 error", "2 warnings"."""

from __future__ import annotations

import pytest

from autobot.doctor.findings import Finding, Report, error, info, warning
from autobot.doctor.render import summary_line


def _report(errors: int, warnings: int, infos: int) -> Report:
    findings: list[Finding] = []
    findings += [error(f"e{n}", "an error", None) for n in range(errors)]
    findings += [warning(f"w{n}", "a warning", None) for n in range(warnings)]
    findings += [info(f"i{n}", "a note") for n in range(infos)]
    return Report(tuple(findings))


@pytest.mark.parametrize(
    ("counts", "line"),
    [
        ((0, 0, 0), "Summary: 0 errors, 0 warnings, 0 info"),
        ((1, 1, 1), "Summary: 1 error, 1 warning, 1 info"),
        ((2, 3, 4), "Summary: 2 errors, 3 warnings, 4 info"),
        ((1, 0, 2), "Summary: 1 error, 0 warnings, 2 info"),
    ],
)
def test_singular_and_plural(counts: tuple[int, int, int], line: str) -> None:
    assert summary_line(_report(*counts)) == line
