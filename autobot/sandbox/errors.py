"""Errors raised by the sandbox layer."""

from __future__ import annotations


class SandboxUnavailable(RuntimeError):
    """The configured sandbox backend cannot run here; start-up must stop."""


class WorkerFailed(RuntimeError):
    """A sandbox worker died, broke the protocol or could not be started."""
