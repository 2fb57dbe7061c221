"""Doctor and gateway judge the LLM provider with the same code and the same words.

Each scenario is a bot directory. The gateway's verdict is what
`build_gateway` (the gateway's composition root) raises; the doctor must
report an error with exactly that message whenever the gateway refuses, and
no provider error when it accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from autobot.app import build_gateway
from autobot.config import load_config
from autobot.doctor.findings import Report, Severity
from autobot.doctor.run import run_checks
from autobot.llm.selection import ProviderConfigError

from .botdir import make_bot, probe_ok

PROVIDER_CODES = {
    "no_provider",
    "model_provider_unconfigured",
    "provider_invalid",
    "model_invalid",
}


@attrs.frozen
class Case:
    id: str
    config: dict[str, Any]
    env: str = ""
    doctor_code: str | None = None  # the provider error doctor reports, None: accepted


def _model(model: str) -> dict[str, Any]:
    return {"agents": {"defaults": {"model": model}}}


def _providers(**providers: dict[str, str]) -> dict[str, Any]:
    return {"providers": {"anthropic": {"api_key": None}, **providers}}


VLLM = "vllm/meta-llama/Llama-3.1-8B-Instruct"
CASES = [
    Case("anthropic with a key", {}, env="ANTHROPIC_API_KEY=sk-ant-test-key-123456\n"),
    Case(
        "vllm keyless with api_base",
        {**_providers(vllm={"api_base": "http://127.0.0.1:8000/v1"}), **_model(VLLM)},
    ),
    Case(
        "vllm with a key but an empty api_base",
        {**_providers(vllm={"api_key": "${VLLM_API_KEY}", "api_base": ""}), **_model(VLLM)},
        env="VLLM_API_KEY=vllm-key-123456\n",
        doctor_code="no_provider",
    ),
    Case(
        "vllm with a key and no api_base",
        {**_providers(vllm={"api_key": "${VLLM_API_KEY}"}), **_model(VLLM)},
        env="VLLM_API_KEY=vllm-key-123456\n",
        doctor_code="no_provider",
    ),
    Case(
        "api_base with credentials in it",
        {
            **_providers(vllm={"api_base": "http://bob:${VLLM_PW}@127.0.0.1:8000/v1"}),
            **_model(VLLM),
        },
        env="VLLM_PW=hunter2hunter2\n",
        doctor_code="provider_invalid",
    ),
    Case(
        "api_base with a query",
        {
            "providers": {
                "openai": {
                    "api_key": "${OPENAI_API_KEY}",
                    "api_base": "https://proxy.example/v1?team=a",
                }
            },
            **_model("openai/gpt-4.1"),
        },
        env="OPENAI_API_KEY=sk-test-openai-123456\n",
        doctor_code="provider_invalid",
    ),
    Case(
        "model of a provider without a key",
        _model("openai/gpt-4.1"),
        env="ANTHROPIC_API_KEY=sk-ant-test-key-123456\n",
        doctor_code="model_provider_unconfigured",
    ),
    Case("no provider at all", {}, doctor_code="no_provider"),
    Case(
        "empty model",
        _model(""),
        env="ANTHROPIC_API_KEY=sk-ant-test-key-123456\n",
        doctor_code="model_invalid",
    ),
    Case(
        "provider prefix without a model",
        _model("anthropic/"),
        env="ANTHROPIC_API_KEY=sk-ant-test-key-123456\n",
        doctor_code="model_invalid",
    ),
    Case(
        "bare model goes to the first configured provider",
        {"providers": {"groq": {"api_key": "${GROQ_API_KEY}"}}, **_model("llama-3.3-70b")},
        env="GROQ_API_KEY=gsk_test_groq_key_123456\n",
    ),
]


async def _gateway_refusal(config_path: Path) -> str | None:
    """What `autobot gateway` would say when it refuses the provider, else None."""
    loaded = await trio.to_thread.run_sync(load_config, config_path, {})
    try:
        gateway = build_gateway(loaded)
    except (ProviderConfigError, ValueError) as exc:
        return str(exc)
    await gateway.provider.aclose()
    return None


def _provider_errors(report: Report) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in report.of(Severity.ERROR) if f.code in PROVIDER_CODES]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_doctor_refuses_exactly_what_the_gateway_refuses(tmp_path: Path, case: Case) -> None:
    made = make_bot(tmp_path / "bot", case.config, env=case.env)
    report = await run_checks(made.config, environ={}, probe=probe_ok, home=tmp_path / "h")
    refusal = await _gateway_refusal(made.config)
    if case.doctor_code is None:
        assert refusal is None
        assert _provider_errors(report) == []
    else:
        assert refusal is not None
        assert _provider_errors(report) == [(case.doctor_code, refusal)]


async def test_bare_model_is_a_warning_naming_the_provider_it_goes_to(tmp_path: Path) -> None:
    case = CASES[-1]
    made = make_bot(tmp_path / "bot", case.config, env=case.env)
    report = await run_checks(made.config, environ={}, probe=probe_ok, home=tmp_path / "h")
    (implicit,) = [f for f in report.warnings if f.code == "model_provider_implicit"]
    assert "'llama-3.3-70b'" in implicit.message and "'groq'" in implicit.message
    assert "LLM: provider 'groq', model 'llama-3.3-70b'" in [f.message for f in report.info]
