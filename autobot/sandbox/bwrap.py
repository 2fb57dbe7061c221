"""Pure builder of the bubblewrap command line for a sandbox worker (or probe).

Guarantees encoded here, each checked by tests: every namespace unshared
(network shared back only when the policy allows it), the command as PID 1
of its PID namespace (`--as-pid-1`, see `worker_main`), all capabilities
dropped (bwrap keeps them when run by root), a cleared environment with only
PATH/HOME/LANG/TMPDIR, the system directories read-only, a private /tmp and
/proc, a read-only root, the workspace read-write at the fixed `/workspace`, and every dotenv
entry in the workspace masked by the kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from autobot.sandbox.masks import EnvMask
from autobot.sandbox.policy import (
    SANDBOX_PATH,
    SANDBOX_WORKSPACE,
    WORKER_IN_SANDBOX,
    WORKER_SCRIPT,
    ResourceLimits,
    SandboxPolicy,
    limits_argument,
)

BWRAP = "bwrap"
SANDBOX_HOME = "/tmp"  # private tmpfs: nothing of the host's home exists inside
SANDBOX_ENV = (
    ("PATH", SANDBOX_PATH),
    ("HOME", SANDBOX_HOME),
    ("LANG", "C.UTF-8"),
    ("TMPDIR", "/tmp"),
)


def worker_command(limits: ResourceLimits) -> tuple[str, ...]:
    """The worker's command line inside the sandbox."""
    return ("/usr/bin/python3", "-I", WORKER_IN_SANDBOX, SANDBOX_WORKSPACE, limits_argument(limits))


def bwrap_argv(
    policy: SandboxPolicy,
    command: Sequence[str],
    *,
    masks: Iterable[EnvMask] = (),
    with_worker: bool = False,
) -> list[str]:
    """The full argv: `bwrap <isolation> -- <command>`.

    `masks` are the dotenv entries to hide (see `masks.find_env_masks`);
    `with_worker` binds the worker program read-only at `WORKER_IN_SANDBOX`.
    """
    # `--as-pid-1`: the command itself is PID 1 of the new PID namespace (no bwrap
    # init holding its stdin/stdout), so the worker reaps and kills every other process.
    argv = [BWRAP, "--unshare-all", "--unshare-pid", "--as-pid-1"]
    if policy.network:
        argv.append("--share-net")
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for mount in policy.system:
        if mount.symlink_target is None:
            argv += ["--ro-bind", mount.path, mount.path]
        else:
            argv += ["--symlink", mount.symlink_target, mount.path]
    for path in policy.etc:
        argv += ["--ro-bind", path, path]
    if policy.support_dir is not None:
        for name in ("passwd", "group"):
            argv += ["--ro-bind", str(policy.support_dir / name), f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    argv += ["--bind", str(policy.workspace), SANDBOX_WORKSPACE]
    for mask in sorted(masks):
        target = f"{SANDBOX_WORKSPACE}/{mask.relpath}"
        if mask.is_dir:
            argv += ["--tmpfs", target, "--remount-ro", target]
        else:
            argv += ["--ro-bind", "/dev/null", target]
    if with_worker:
        argv += ["--ro-bind", str(WORKER_SCRIPT), WORKER_IN_SANDBOX]
    argv += ["--remount-ro", "/"]  # the sandbox's own root (and /etc, /opt) stay read-only
    argv.append("--clearenv")
    for name, value in SANDBOX_ENV:
        argv += ["--setenv", name, value]
    argv += ["--chdir", SANDBOX_WORKSPACE, "--", *command]
    return argv
