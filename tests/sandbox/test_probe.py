"""probe_sandbox against the real machine: bubblewrap works here, no docker engine runs."""

from __future__ import annotations

import os

import pytest

from autobot.config.schema import SandboxMode
from autobot.sandbox.probe import SandboxProbe, probe_sandbox


async def test_auto_picks_working_bubblewrap() -> None:
    probe = await probe_sandbox(SandboxMode.AUTO)
    assert probe == SandboxProbe(
        backend=SandboxMode.BUBBLEWRAP, available=True, detail="bubblewrap works"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to drop to another account")
async def test_root_without_an_identity_is_refused() -> None:
    probe = await probe_sandbox(SandboxMode.BUBBLEWRAP, None)
    assert not probe.available
    assert "refusing to serve as uid 0" in probe.detail


async def test_explicit_bubblewrap_is_honoured() -> None:
    probe = await probe_sandbox(SandboxMode.BUBBLEWRAP)
    assert probe.backend is SandboxMode.BUBBLEWRAP
    assert probe.available


async def test_docker_without_engine_is_reported_unavailable() -> None:
    probe = await probe_sandbox(SandboxMode.DOCKER)
    assert probe.backend is None
    assert not probe.available
    assert probe.detail.startswith("docker")


async def test_none_is_available_with_a_warning_detail() -> None:
    probe = await probe_sandbox(SandboxMode.NONE)
    assert probe == SandboxProbe(
        backend=SandboxMode.NONE, available=True, detail="workspace restrictions disabled"
    )


async def test_missing_bwrap_is_a_clear_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    probe = await probe_sandbox(SandboxMode.BUBBLEWRAP)
    assert probe == SandboxProbe(backend=None, available=False, detail="bwrap not found on PATH")


async def test_auto_with_nothing_installed_lists_both_reasons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    probe = await probe_sandbox(SandboxMode.AUTO)
    assert probe == SandboxProbe(
        backend=None,
        available=False,
        detail="bwrap not found on PATH; docker not found on PATH",
    )
