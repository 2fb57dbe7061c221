"""Is the configured sandbox really available? (pure findings + one async probe call)

The probe itself belongs to the sandbox package (`autobot.sandbox.probe`,
which actually runs bubblewrap); the doctor takes it as an injected
`SandboxProber` so tests can substitute fakes. A probe that hangs is cut off
after `PROBE_TIMEOUT` seconds and counts as unavailable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs
import trio

from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.doctor.findings import Finding, error, info, untrusted

PROBE_TIMEOUT = 30.0  # a real bwrap start takes well under a second; docker can be slow


class ProbeResult(Protocol):
    """What a sandbox probe reports (the shape of `autobot.sandbox.probe.SandboxProbe`)."""

    @property
    def backend(self) -> SandboxMode | None: ...

    @property
    def available(self) -> bool: ...

    @property
    def detail(self) -> str: ...


# Probes the sandbox a bot's `tools` settings ask for (`autobot.sandbox.probe.probe_configured`).
SandboxProber = Callable[[ToolsConfig], Awaitable[ProbeResult]]

_INSTALL_HINT = {
    SandboxMode.AUTO: "Install bubblewrap (apt install bubblewrap) or Docker",
    SandboxMode.BUBBLEWRAP: "Install bubblewrap (apt install bubblewrap) and make sure "
    "unprivileged user namespaces are allowed",
    SandboxMode.DOCKER: "Install Docker and make sure this user can run `docker run`",
}


def sandbox_findings(mode: SandboxMode, result: ProbeResult | None) -> list[Finding]:
    """ERROR when an enabled sandbox is unavailable, else INFO naming the backend.

    `result` is None only for `SandboxMode.NONE` (nothing to probe; the
    config checks warn about it).
    """
    if mode is SandboxMode.NONE or result is None:
        return [info("sandbox_backend", "Sandbox backend: none (tools run unconfined)")]
    if not result.available or result.backend is None:
        return [
            error(
                "sandbox_unavailable",
                f"Sandbox '{mode.value}' is enabled but not available: {untrusted(result.detail)}",
                _INSTALL_HINT[mode] + ", or (development only) set tools.sandbox: none",
            )
        ]
    detail = untrusted(result.detail)
    return [info("sandbox_backend", f"Sandbox backend: {result.backend.value} ({detail})")]


@attrs.frozen(kw_only=True)
class ProbeFailure:
    """A probe that did not answer in time."""

    backend: SandboxMode | None = None
    available: bool = False
    detail: str


async def probe_sandbox_findings(tools: ToolsConfig, prober: SandboxProber) -> list[Finding]:
    """Run `prober` for `tools` (bounded by `PROBE_TIMEOUT`) and turn its answer into findings.

    A probe that times out is reported as unavailable. The probe reports a
    missing or broken backend in its result, so anything it raises is a bug
    and propagates.
    """
    mode = tools.sandbox
    if mode is SandboxMode.NONE:
        return sandbox_findings(mode, None)
    result: ProbeResult
    try:
        with trio.fail_after(PROBE_TIMEOUT):
            result = await prober(tools)
    except trio.TooSlowError:
        result = ProbeFailure(detail=f"probe did not answer within {PROBE_TIMEOUT:g}s")
    return sandbox_findings(mode, result)
