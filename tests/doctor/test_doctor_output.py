"""Rendering, exit codes, --json shape, doctor_main, and secrets never printed."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from autobot.doctor.findings import Report, error, info, warning
from autobot.doctor.main import doctor, doctor_main
from autobot.doctor.render import render_json, render_text

from .botdir import ANTHROPIC_KEY, CLEAN_ENV, make_bot, probe_missing, probe_ok

REPORT = Report(
    (
        error("env_permissions", ".env is 0644", "chmod 600 /b/.env"),
        warning("gateway_exposed", "Gateway on 0.0.0.0", "Use 127.0.0.1"),
        warning("exec_network_enabled", "network on\nsecond line", None),
        info("sandbox_backend", "Sandbox backend: bubblewrap"),
    )
)


def test_text_sections_bullets_fixes_and_summary() -> None:
    assert render_text(REPORT) == (
        "ERRORS (1)\n"
        "  - .env is 0644\n"
        "    fix: chmod 600 /b/.env\n"
        "\n"
        "WARNINGS (2)\n"
        "  - Gateway on 0.0.0.0\n"
        "    fix: Use 127.0.0.1\n"
        "  - network on\n"
        "      second line\n"
        "\n"
        "INFO (1)\n"
        "  - Sandbox backend: bubblewrap\n"
        "\n"
        "Summary: 1 error, 2 warnings, 1 info\n"
    )


def test_empty_sections_are_left_out_but_summary_stays() -> None:
    assert render_text(Report(())) == "Summary: 0 errors, 0 warnings, 0 info\n"


@pytest.mark.parametrize(
    ("findings", "strict", "code"),
    [
        ((), False, 0),
        ((), True, 0),
        ((info("i", "x"),), True, 0),
        ((warning("w", "x"),), False, 0),
        ((warning("w", "x"),), True, 1),
        ((error("e", "x"),), False, 1),
        ((error("e", "x"), warning("w", "x")), True, 1),
    ],
)
def test_exit_codes(findings: tuple, strict: bool, code: int) -> None:
    report = Report(findings)
    assert report.exit_code(strict=strict) == code
    assert json.loads(render_json(report, strict=strict))["ok"] is (code == 0)


def test_json_shape() -> None:
    document = json.loads(render_json(REPORT, strict=True))
    assert set(document) == {"errors", "warnings", "info", "summary", "ok"}
    assert document["errors"] == [
        {"code": "env_permissions", "message": ".env is 0644", "fix": "chmod 600 /b/.env"}
    ]
    assert [w["code"] for w in document["warnings"]] == ["gateway_exposed", "exec_network_enabled"]
    assert document["warnings"][1]["fix"] is None
    assert document["summary"] == {"errors": 1, "warnings": 2, "info": 1, "strict": True}
    assert document["ok"] is False


async def test_doctor_clean_bot_exit_zero_even_strict(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot")
    for strict in (False, True):
        out = io.StringIO()
        code = await doctor(
            made.config,
            strict=strict,
            as_json=False,
            environ={},
            out=out,
            home=tmp_path / "h",
            probe=probe_ok,
        )
        assert code == 0
        assert out.getvalue().endswith("Summary: 0 errors, 0 warnings, 3 info\n")


async def test_strict_turns_warnings_into_exit_one(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot", {"gateway": {"host": "0.0.0.0"}})
    codes = []
    for strict in (False, True):
        out = io.StringIO()
        codes.append(
            await doctor(
                made.config,
                strict=strict,
                as_json=True,
                environ={},
                out=out,
                home=tmp_path / "h",
                probe=probe_ok,
            )
        )
        document = json.loads(out.getvalue())
        assert document["summary"]["warnings"] == 1
        assert document["ok"] is not strict
    assert codes == [0, 1]


def test_doctor_main_runs_trio_and_returns_exit_code(tmp_path: Path) -> None:
    made = make_bot(tmp_path / "bot")
    out = io.StringIO()
    code = doctor_main(
        made.config,
        strict=False,
        as_json=False,
        environ={},
        out=out,
        home=tmp_path / "h",
        probe=probe_missing,
    )
    assert code == 1
    assert "ERRORS (1)" in out.getvalue()
    assert "bwrap not found on PATH" in out.getvalue()


SECRETS = {
    "anthropic": "sk-ant-api03-" + "Z" * 40,
    "slack": "xoxb-1234567890-abcdefghijklmnop",
    "odd": "correct-horse-battery-staple",
    "port": "sk-ant-api03-" + "P" * 30,
}


async def test_secrets_never_printed(tmp_path: Path) -> None:
    raw = (
        "providers:\n"
        f"  anthropic:\n    api_key: {SECRETS['anthropic']}\n"
        "channels:\n"
        f"  slack:\n    enabled: true\n    bot_token: {SECRETS['slack']}\n"
        f"  telegram:\n    enabled: true\n    token: {SECRETS['odd']}\n"
        "  whatsapp:\n    enabled: true\n"
        f"    bridge_url: ws://10.1.1.1:3001/?token={SECRETS['odd']}\n"
    )
    bad = raw + f"gateway:\n  port: {SECRETS['port']}\n"  # fails to load, value echoed?
    for name, text in (("loads", raw), ("broken", bad)):
        made = make_bot(tmp_path / name, raw_config=text, env=CLEAN_ENV)
        for as_json in (False, True):
            out = io.StringIO()
            code = await doctor(
                made.config,
                strict=False,
                as_json=as_json,
                environ={},
                out=out,
                home=tmp_path / "h",
                probe=probe_ok,
            )
            printed = out.getvalue()
            assert code == 1
            assert "plaintext" in printed.lower()
            for secret in (*SECRETS.values(), ANTHROPIC_KEY):
                assert secret not in printed, (name, as_json, secret)
            assert "Z" * 20 not in printed
            assert "P" * 20 not in printed
