"""Pure builders of the docker command lines for the docker backend.

Same guarantees as the bubblewrap argv where docker can express them: no
network unless allowed, memory/CPU/process limits, all capabilities
dropped, no new privileges, a read-only root filesystem with a private
`/tmp`, a non-root user where the workspace allows (`container_user`), the
workspace at `/workspace`, dotenv entries masked, a minimal environment,
and the worker as PID 1 of the container. Forwarded `tools.sandbox_env` values travel over the worker
protocol, never in argv. `Dockerfile.sandbox` is built with an empty build
context (the Dockerfile on stdin), so nothing of the bot directory, least of
all `.env`, is sent to the docker engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from autobot.sandbox.bwrap import SANDBOX_ENV
from autobot.sandbox.masks import EnvMask
from autobot.sandbox.policy import (
    SANDBOX_WORKSPACE,
    WORKER_IN_SANDBOX,
    WORKER_SCRIPT,
    SandboxPolicy,
    limits_argument,
)

DOCKERFILE = "Dockerfile.sandbox"
BUILT_IMAGE = "autobot-sandbox"
DEFAULT_IMAGE = "python:3-alpine"
CPUS = "1"


def docker_image(configured: str | None, bot_dir: Path) -> str:
    """`tools.docker_image` if set, else the image built from `Dockerfile.sandbox`
    when the bot directory has one, else a stock python image."""
    if configured:
        return configured
    return BUILT_IMAGE if (bot_dir / DOCKERFILE).is_file() else DEFAULT_IMAGE


def docker_build_argv() -> list[str]:
    """`docker build` reading the Dockerfile from stdin (no build context)."""
    return ["docker", "build", "--tag", BUILT_IMAGE, "-"]


def container_user(policy: SandboxPolicy) -> tuple[int, int] | None:
    """Who the container runs as: the identity if any (a root gateway), else the workspace's
    owner, the one non-root account sure to be able to write the workspace.
    A root-owned workspace means root (still without capabilities, new
    privileges, network or a writable root filesystem); None: the image's user."""
    if policy.identity is not None:
        return policy.identity.uid, policy.identity.gid
    return policy.workspace_owner


def docker_run_argv(policy: SandboxPolicy, image: str, masks: Iterable[EnvMask] = ()) -> list[str]:
    """`docker run` for one persistent worker speaking the protocol on stdin/stdout."""
    limits = policy.limits
    argv = [
        "docker", "run", "--rm", "-i",
        "--network", "bridge" if policy.network else "none",
        "--memory", str(limits.memory_bytes),
        "--cpus", CPUS,
        "--pids-limit", str(limits.processes),
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        "--read-only",  # the image's filesystem; the workspace and /tmp stay writable
        "--tmpfs", "/tmp:rw,nosuid,nodev",
        "-v", f"{policy.workspace}:{SANDBOX_WORKSPACE}:rw",
        "-v", f"{WORKER_SCRIPT}:{WORKER_IN_SANDBOX}:ro",
    ]  # fmt: skip
    user = container_user(policy)
    if user is not None:
        argv += ["--user", f"{user[0]}:{user[1]}"]
    for mask in sorted(masks):
        target = f"{SANDBOX_WORKSPACE}/{mask.relpath}"
        if mask.is_dir:
            argv += ["--mount", f"type=tmpfs,destination={target},readonly"]
        else:
            argv += ["-v", f"/dev/null:{target}:ro"]
    for name, value in SANDBOX_ENV:
        argv += ["--env", f"{name}={value}"]
    # The worker must be PID 1 of the container's PID namespace (see worker_main): no
    # `--init` (tini would hold the protocol pipes, dumpable), and the image's own
    # ENTRYPOINT is overridden so no wrapper of a Dockerfile.sandbox takes its place.
    argv += ["-w", SANDBOX_WORKSPACE, "--entrypoint", "python3", image]
    argv += ["-I", WORKER_IN_SANDBOX, SANDBOX_WORKSPACE, limits_argument(limits)]
    return argv
