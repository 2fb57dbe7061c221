"""`cron.timezone` must name a zone: anything else is a config problem, never a crash."""

from __future__ import annotations

import pytest

from autobot.config.rules import iana_zone


@pytest.mark.parametrize("name", ["Europe/Paris", "UTC", "America/Argentina/Buenos_Aires"])
def test_zone_names_pass(name: str) -> None:
    assert iana_zone(name) is None


@pytest.mark.parametrize(
    "name",
    ["Europe", "America/Argentina", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", ""],
)
def test_anything_else_is_a_problem_not_a_crash(name: str) -> None:
    assert iana_zone(name) == "an IANA time zone name such as Europe/Paris or UTC"
