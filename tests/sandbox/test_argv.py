"""Pure parts: bwrap and docker argv, worker argv, dotenv masks, path mapping, output format."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.config.schema import SandboxMode
from autobot.sandbox.bwrap import IdentityNeedsWorker, SandboxFds, bwrap_argv, worker_command
from autobot.sandbox.docker import (
    BUILT_IMAGE,
    DEFAULT_IMAGE,
    docker_build_argv,
    docker_image,
    docker_run_argv,
)
from autobot.sandbox.mapping import PathRefused, dotenv_token, workspace_relpath
from autobot.sandbox.masks import EnvMask, find_env_masks
from autobot.sandbox.policy import (
    WORKER_IN_SANDBOX,
    ProcEntry,
    ResourceLimits,
    SandboxPolicy,
    SystemMount,
    forwarded_env,
)
from autobot.sandbox.pool import worker_argv
from autobot.sandbox.spawn_files import synthetic_passwd
from autobot.sandbox.userns import SandboxIdentity
from autobot.sandbox.worker import ExecOutcome
from autobot.tools.base import ToolResult
from autobot.tools.exec import format_outcome

WS = Path("/srv/bot/workspace")
POLICY = SandboxPolicy(
    workspace=WS,
    env=(("GITHUB_TOKEN", "ghp_secretvalue"),),
    system=(SystemMount("/usr"), SystemMount("/bin", "usr/bin")),
    etc=("/etc/ld.so.cache",),
    limits=ResourceLimits(memory_bytes=512 * 1024 * 1024, processes=64),
    proc_readonly=("sys", "sysrq-trigger"),
    proc_hidden=(ProcEntry("kcore", False), ProcEntry("acpi", True)),
)
FDS = SandboxFds(seccomp=3, passwd=4, group=5)
WORKER_FDS = attrs.evolve(FDS, worker=6)
IDENTITY_FDS = attrs.evolve(WORKER_FDS, userns=7)
IDENTITY = SandboxIdentity(65534, 65534)
MASKS = frozenset({EnvMask(".env", False), EnvMask("venv.env", True)})


def pairs(argv: list[str], flag: str) -> list[tuple[str, ...]]:
    """Every occurrence of `flag` with its following two arguments."""
    return [tuple(argv[i + 1 : i + 3]) for i, arg in enumerate(argv) if arg == flag]


def test_bwrap_isolation_flags() -> None:
    argv = bwrap_argv(POLICY, ["/usr/bin/true"], fds=WORKER_FDS, masks=MASKS)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    # the command itself is PID 1 of a new PID namespace: no bwrap init holds its pipes
    assert "--unshare-pid" in argv and "--as-pid-1" in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and "--cap-add" not in argv
    assert argv[argv.index("--seccomp") + 1] == "3"
    assert "--share-net" not in argv and "--userns" not in argv
    assert ("/srv/bot/workspace", "/workspace") in pairs(argv, "--bind")
    assert ("4", "/etc/passwd") in pairs(argv, "--ro-bind-data")
    assert ("6", WORKER_IN_SANDBOX) in pairs(argv, "--ro-bind-data")
    assert ("/usr", "/usr") in pairs(argv, "--ro-bind")
    assert ("usr/bin", "/bin") in pairs(argv, "--symlink")
    assert argv[argv.index("--chdir") + 1] == "/workspace"
    assert argv[-2:] == ["--", "/usr/bin/true"]


def test_bwrap_masks_every_dotenv_entry_after_the_workspace_bind() -> None:
    argv = bwrap_argv(POLICY, ["true"], fds=FDS, masks=MASKS)
    assert ("/dev/null", "/workspace/.env") in pairs(argv, "--ro-bind")
    tmpfs = argv.index("/workspace/venv.env")
    assert argv[tmpfs - 1] == "--tmpfs" and argv[tmpfs + 1 : tmpfs + 3] == [
        "--remount-ro",
        "/workspace/venv.env",
    ]
    assert argv.index("/workspace/.env") > argv.index("--bind")


def test_bwrap_environment_is_minimal_and_never_holds_forwarded_values() -> None:
    argv = bwrap_argv(POLICY, ["true"], fds=FDS)
    assert {name for name, _ in pairs(argv, "--setenv")} == {"PATH", "HOME", "LANG", "TMPDIR"}
    assert not any("ghp_secretvalue" in arg or "GITHUB_TOKEN" in arg for arg in argv)
    assert argv.index("--clearenv") < argv.index("--setenv")


def test_bwrap_nothing_of_the_host_but_system_and_workspace() -> None:
    argv = bwrap_argv(POLICY, ["true"], fds=FDS)
    sources = [src for src, _ in pairs(argv, "--ro-bind") + pairs(argv, "--bind")]
    assert sources == [
        "/usr", "/etc/ld.so.cache", "/proc/sys", "/proc/sysrq-trigger", "/dev/null", str(WS),
    ]  # fmt: skip


def test_bwrap_proc_interfaces_read_only_or_hidden() -> None:
    argv = bwrap_argv(POLICY, ["true"], fds=FDS)
    proc = argv.index("--proc")
    assert ("/proc/sys", "/proc/sys") in pairs(argv, "--ro-bind")
    assert ("/dev/null", "/proc/kcore") in pairs(argv, "--ro-bind")
    acpi = argv.index("/proc/acpi")
    assert argv[acpi - 1] == "--tmpfs" and argv[acpi + 1 : acpi + 3] == [
        "--remount-ro",
        "/proc/acpi",
    ]
    assert proc < argv.index("/proc/sys") < argv.index("/proc/kcore")


def test_bwrap_identity_joins_the_user_namespace_and_keeps_only_setuid() -> None:
    command = worker_command(POLICY.limits, IDENTITY)
    assert command[-1] == "--drop-to=65534:65534"
    argv = bwrap_argv(POLICY, command, fds=IDENTITY_FDS)
    assert argv[argv.index("--userns") + 1] == "7"
    assert "--unshare-all" not in argv and "--unshare-user" not in argv
    for flag in ("--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-net"):
        assert flag in argv
    caps = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--cap-add"]
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and caps == ["CAP_SETUID", "CAP_SETGID"]
    assert "--chdir" not in argv  # the worker changes directory once it is the identity
    assert "--unshare-net" not in bwrap_argv(
        attrs.evolve(POLICY, network=True), command, fds=IDENTITY_FDS
    )


def test_bwrap_identity_runs_only_the_worker() -> None:
    with pytest.raises(IdentityNeedsWorker):
        bwrap_argv(POLICY, ["/bin/sh", "-c", "id"], fds=IDENTITY_FDS)
    with pytest.raises(IdentityNeedsWorker):
        bwrap_argv(POLICY, worker_command(POLICY.limits, IDENTITY), fds=attrs.evolve(FDS, userns=7))


def test_bwrap_network_only_when_allowed() -> None:

    assert "--share-net" in bwrap_argv(attrs.evolve(POLICY, network=True), ["true"], fds=FDS)


def test_docker_run_argv() -> None:
    argv = docker_run_argv(POLICY, "img:1", MASKS)
    assert argv[:4] == ["docker", "run", "--rm", "-i"]
    assert argv[argv.index("--network") + 1] == "none"
    assert argv[argv.index("--memory") + 1] == str(512 * 1024 * 1024)
    assert argv[argv.index("--cpus") + 1] == "1"
    assert argv[argv.index("--pids-limit") + 1] == "64"
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    volumes = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-v"]
    assert "/srv/bot/workspace:/workspace:rw" in volumes
    assert "/dev/null:/workspace/.env:ro" in volumes
    assert "type=tmpfs,destination=/workspace/venv.env,readonly" in argv
    assert argv[argv.index("-w") + 1] == "/workspace"
    assert argv[-7:] == [
        "--entrypoint", "python3", "img:1", "-I", WORKER_IN_SANDBOX, "/workspace",
        "--limits=60,536870912,64,268435456",
    ]  # fmt: skip
    assert not any("ghp_secretvalue" in arg for arg in argv)


def test_docker_hardening_flags() -> None:
    argv = docker_run_argv(attrs.evolve(POLICY, workspace_owner=(1000, 1001)), "img:1")
    assert "--read-only" in argv
    assert argv[argv.index("--tmpfs") + 1] == "/tmp:rw,nosuid,nodev"
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--security-opt") + 1] == "no-new-privileges"
    assert argv[argv.index("--pids-limit") + 1] == "64"
    assert argv[argv.index("--user") + 1] == "1000:1001"
    assert argv.index("--user") < argv.index("img:1")


@pytest.mark.parametrize(
    ("owner", "identity", "expected"),
    [
        ((1000, 1001), None, "1000:1001"),  # the workspace's owner: non-root, can write it
        ((1000, 1001), SandboxIdentity(2000, 2001), "2000:2001"),  # a root gateway's identity
        ((0, 0), None, "0:0"),  # a root-owned workspace is only writable by root
        (None, None, None),  # unknown owner: the image's user
    ],
)
def test_docker_user(
    owner: tuple[int, int] | None, identity: SandboxIdentity | None, expected: str | None
) -> None:
    policy = attrs.evolve(POLICY, workspace_owner=owner, identity=identity)
    argv = docker_run_argv(policy, "img")
    assert (argv[argv.index("--user") + 1] if "--user" in argv else None) == expected


def test_docker_worker_is_pid_1_of_the_container() -> None:
    """No tini (`--init`) holding the protocol pipes; the image's ENTRYPOINT is
    overridden so the worker itself is PID 1 and can kill every leftover process."""
    argv = docker_run_argv(POLICY, "img:1")
    assert "--init" not in argv and "--pid" not in argv
    assert argv[argv.index("--entrypoint") + 1] == "python3"
    assert argv.index("--entrypoint") < argv.index("img:1")


def test_docker_network_when_allowed() -> None:

    argv = docker_run_argv(attrs.evolve(POLICY, network=True), "img")
    assert argv[argv.index("--network") + 1] == "bridge"


def test_docker_image_choice(tmp_path: Path) -> None:
    assert docker_image("mine:2", tmp_path) == "mine:2"
    assert docker_image(None, tmp_path) == DEFAULT_IMAGE
    (tmp_path / "Dockerfile.sandbox").write_text("FROM alpine\n")
    assert docker_image(None, tmp_path) == BUILT_IMAGE
    assert docker_build_argv() == ["docker", "build", "--tag", BUILT_IMAGE, "-"]  # no context


def test_worker_argv_per_backend() -> None:
    assert worker_argv(SandboxMode.BUBBLEWRAP, POLICY, MASKS, "i", WORKER_FDS)[0] == "bwrap"
    assert worker_argv(SandboxMode.DOCKER, POLICY, MASKS, "i", WORKER_FDS)[:2] == ["docker", "run"]
    assert worker_argv(SandboxMode.NONE, POLICY, MASKS, "i", WORKER_FDS)[-2:] == [
        str(WS),
        "--limits=60,536870912,64,268435456",
    ]
    bwrap = worker_argv(SandboxMode.BUBBLEWRAP, POLICY, MASKS, "i", WORKER_FDS)
    assert bwrap[-3:] == [WORKER_IN_SANDBOX, "/workspace", "--limits=60,536870912,64,268435456"]
    root = attrs.evolve(POLICY, identity=IDENTITY)
    assert worker_argv(SandboxMode.BUBBLEWRAP, root, MASKS, "i", IDENTITY_FDS)[-1] == (
        "--drop-to=65534:65534"
    )
    with pytest.raises(ValueError, match="not a resolved backend"):
        worker_argv(SandboxMode.AUTO, POLICY, MASKS, "i", WORKER_FDS)


def test_forwarded_env_and_synthetic_passwd() -> None:
    assert forwarded_env(("A", "MISSING", "B"), {"A": "1", "B": "2", "C": "3"}) == (
        ("A", "1"),
        ("B", "2"),
    )
    passwd, group = synthetic_passwd(SandboxIdentity(1000, 1000))
    assert passwd.splitlines()[0].startswith("root:x:0:0:")
    assert "sandbox:x:1000:1000" in passwd and "sandbox:x:1000:" in group
    assert len(synthetic_passwd(None)[0].splitlines()) == 2
    assert len(synthetic_passwd(SandboxIdentity(65534, 65534))[0].splitlines()) == 2


def test_find_env_masks(tmp_path: Path) -> None:
    for name in (
        ".env", "secrets.env", "a/.env.local", "a/.env-prod", "a/.env_dev", "a/notes.txt",
        "environment.py", "env", "env_setup.sh",
    ):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "venv.env" / "inner").mkdir(parents=True)
    (tmp_path / "venv.env" / "inner" / ".env").write_text("x")
    (tmp_path / "link.env").symlink_to("/etc/passwd")
    assert find_env_masks(tmp_path) == {
        EnvMask(".env", False),
        EnvMask("secrets.env", False),
        EnvMask("a/.env.local", False),
        EnvMask("a/.env-prod", False),
        EnvMask("a/.env_dev", False),
        EnvMask("venv.env", True),
    }


@pytest.mark.parametrize(
    ("user_path", "expected"),
    [
        ("notes.txt", "notes.txt"),
        ("", "."),
        ("/workspace", "."),
        ("/workspace/a/b.txt", "a/b.txt"),
        ("a/../b.txt", "b.txt"),
    ],
)
def test_workspace_relpath_accepts(tmp_path: Path, user_path: str, expected: str) -> None:
    assert workspace_relpath(tmp_path.resolve(), user_path) == expected


@pytest.mark.parametrize(
    ("user_path", "message"),
    [
        ("/etc/passwd", "outside the workspace"),
        ("../../../etc/passwd", "outside the workspace"),
        ("/workspace/../etc", "outside the workspace"),
        (".env", "dotenv"),
        ("a/.env.production/x", "dotenv"),
        ("SECRETS.ENV", "dotenv"),
        ("link", "outside the workspace"),
        ("tolocal", "dotenv"),
        ("a\x00b", "NUL"),
    ],
)
def test_workspace_relpath_refuses(tmp_path: Path, user_path: str, message: str) -> None:
    workspace = tmp_path.resolve()
    (workspace / "link").symlink_to("/etc")
    (workspace / "tolocal").symlink_to(".env")
    with pytest.raises(PathRefused, match=message):
        workspace_relpath(workspace, user_path)


@pytest.mark.parametrize(
    ("command", "token"),
    [
        ("cat .env", ".env"),
        ("cp .env.local x", ".env.local"),
        ("cat secrets.env", "secrets.env"),
        ("cat .env-prod", ".env-prod"),
        ("source .env_local", ".env_local"),
        ("bash env_setup.sh", None),
        ("cat .env|base64", ".env"),
        ("x=$(cat 'dir/prod.env')", "dir/prod.env"),
        ("ls -la", None),
        ("python3 environment.py", None),
        ("env", None),
        ("cat .e*", None),  # globs are the kernel's job
    ],
)
def test_dotenv_token(command: str, token: str | None) -> None:
    assert dotenv_token(command) == token


@given(
    st.text(alphabet="abc ;|&<>'\"", max_size=20),
    st.sampled_from([".env", ".env.local", "secrets.env"]),
    st.text(alphabet="abc ;|&<>'\"", max_size=20),
)
def test_dotenv_token_finds_a_name_between_separators(prefix: str, name: str, suffix: str) -> None:
    assert dotenv_token(f"{prefix} {name} {suffix}") is not None


def outcome(**changes: object) -> ExecOutcome:
    base: dict[str, object] = dict(
        stdout="", stderr="", exit_code=0, timed_out=False, stdout_dropped=0, stderr_dropped=0
    )
    base.update(changes)
    return ExecOutcome(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (outcome(stdout="hi\n"), ToolResult.ok("hi")),
        (outcome(), ToolResult.ok("Exit code: 0")),
        (outcome(stderr="bad\n", exit_code=2), ToolResult.ok("STDERR:\nbad\nExit code: 2")),
        (outcome(exit_code=-9), ToolResult.ok("Exit code: killed by signal 9")),
        (
            outcome(stdout="x", stdout_dropped=5),
            ToolResult.ok("x\n[stdout truncated: 5 more bytes not shown]"),
        ),
        (
            outcome(timed_out=True, exit_code=-9, stdout="partial"),
            ToolResult.error(
                "Error: command timed out after 3 seconds (process group killed)\npartial"
            ),
        ),
    ],
)
def test_format_outcome(value: ExecOutcome, expected: ToolResult) -> None:
    assert format_outcome(value, 3.0) == expected
